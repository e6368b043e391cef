import { describe, expect, it } from 'vitest';
import { isAuthchartError } from '../../adapters/core/errors.js';
import { redisLock } from '../../adapters/redis/index.js';
import { sessionKeys } from '../../adapters/redis/keys.js';
import { describeRefreshLockContract } from '../support/contract/refresh-lock.js';
import { clientKinds, uniquePrefix, useRedis } from './support/clients.js';

const redis = useRedis();
const never = () => new AbortController().signal;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const kind of clientKinds) {
  for (const pubsub of ['global', 'sharded'] as const) {
    describeRefreshLockContract({
      name: `redis (${kind}, ${pubsub} pub/sub)`,
      async create({ maxHoldMs, ttlMs = 150 }) {
        const [mine, theirs] = await Promise.all([redis.connectTo(kind), redis.connectTo(kind)]);
        const prefix = uniquePrefix();
        // The lock outlives a silent holder by ttlMs: keep it short so maxHoldMs decides.
        const options = { sessionId: 's', prefix, ttlMs, maxHoldMs, pubsub };
        return {
          lock: redisLock({ ...options, client: mine.client, subscriber: mine.subscriber }),
          peer: redisLock({ ...options, client: theirs.client, subscriber: theirs.subscriber }),
        };
      },
    });
  }
}

describe('redisLock', () => {
  it('renews itself while held, so a slow refresh keeps it past ttlMs', async () => {
    const mine = await redis.connectTo('node-redis');
    const theirs = await redis.connectTo('ioredis');
    const prefix = uniquePrefix();
    // A TTL that leaves the holder's renewals (every ttlMs / 3) room to run late on a busy machine.
    const held = await redisLock({ client: mine.client, sessionId: 's', prefix, ttlMs: 500 }).acquire({ signal: never(), timeoutMs: 500 });
    // Three TTLs later the lock is still held: the contender times out.
    const contender = redisLock({ client: theirs.client, subscriber: theirs.subscriber, sessionId: 's', prefix, ttlMs: 500 });
    const error = await contender.acquire({ signal: never(), timeoutMs: 1500 }).catch((e: unknown) => e);
    expect(isAuthchartError(error, 'LOCK_TIMEOUT')).toBe(true);
    await held.release();
    const next = await contender.acquire({ signal: never(), timeoutMs: 500 });
    await next.release();
  });

  it('a holder that died (no renewal, no release) is replaced once its lock expires, not before', async () => {
    const { client, raw } = await redis.connectTo('node-redis');
    const prefix = uniquePrefix();
    // What a SIGKILLed holder leaves behind: its owner id, expiring in 300 ms.
    await raw('SET', sessionKeys(prefix, 's').lock, 'a-dead-owner', 'PX', '300');
    const started = Date.now();
    const handle = await redisLock({ client, sessionId: 's', prefix, pollIntervalMs: 5000 }).acquire({ signal: never(), timeoutMs: 2000 });
    const waited = Date.now() - started;
    // The wait follows the lock's own expiry (PTTL), even with a long poll interval.
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(800);
    await handle.release();
  });

  it('a release wakes waiters through pub/sub at once, not at their next poll', async () => {
    const mine = await redis.connectTo('ioredis');
    const theirs = await redis.connectTo('node-redis');
    const prefix = uniquePrefix();
    const options = { sessionId: 's', prefix, pollIntervalMs: 5000, ttlMs: 10_000 };
    const held = await redisLock({ ...options, client: mine.client, subscriber: mine.subscriber }).acquire({ signal: never(), timeoutMs: 500 });
    const waiting = redisLock({ ...options, client: theirs.client, subscriber: theirs.subscriber }).acquire({ signal: never(), timeoutMs: 4000 });
    await sleep(100);
    const releasedAt = Date.now();
    await held.release();
    const next = await waiting;
    expect(Date.now() - releasedAt).toBeLessThan(200);
    await next.release();
  });

  it('without a subscriber, waiters learn of the release by polling every pollIntervalMs', async () => {
    const mine = await redis.connectTo('node-redis');
    const theirs = await redis.connectTo('node-redis');
    const prefix = uniquePrefix();
    const options = { sessionId: 's', prefix, ttlMs: 10_000, pollIntervalMs: 100 };
    const held = await redisLock({ ...options, client: mine.client }).acquire({ signal: never(), timeoutMs: 500 });
    let attempts = 0;
    const counting = {
      sendCommand: (args: string[]) => {
        if (args[0] === 'EVALSHA' || args[0] === 'EVAL') attempts++;
        return (theirs.client as { sendCommand(a: string[]): Promise<unknown> }).sendCommand(args);
      },
    };
    const waiting = redisLock({ ...options, client: counting }).acquire({ signal: never(), timeoutMs: 4000 });
    await sleep(500);
    // Polling, not spinning: about one attempt per 100 ms (±20 % jitter).
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(attempts).toBeLessThanOrEqual(8);
    const releasedAt = Date.now();
    await held.release();
    const next = await waiting;
    expect(Date.now() - releasedAt).toBeLessThan(300);
    await next.release();
  });

  it('releases only its own lock: a lock taken over by another owner is left alone', async () => {
    const { client, raw } = await redis.connectTo('ioredis');
    const prefix = uniquePrefix();
    const key = sessionKeys(prefix, 's').lock;
    const handle = await redisLock({ client, sessionId: 's', prefix }).acquire({ signal: never(), timeoutMs: 500 });
    const owner = (await raw('GET', key)) as string;
    expect(owner).toMatch(/^[0-9a-f-]{36}$/);
    await raw('SET', key, 'someone-else', 'PX', '5000');
    await handle.release();
    expect(await raw('GET', key)).toBe('someone-else');
  });
});
