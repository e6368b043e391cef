import { describe, expect, it } from 'vitest';
import { isAuthchartError } from '../../adapters/core/errors.js';
import { redisLock, redisStore } from '../../adapters/redis/index.js';
import { toCommander } from '../../adapters/redis/client.js';
import { sessionKeys } from '../../adapters/redis/keys.js';
import { clearScript, releaseScript, runScript, setScript } from '../../adapters/redis/scripts.js';
import { describeTokenStoreContract, eventually } from '../support/contract/token-store.js';
import { clientKinds, uniquePrefix, useRedis } from './support/clients.js';

const redis = useRedis();

for (const kind of clientKinds) {
  for (const pubsub of ['global', 'sharded'] as const) {
    describeTokenStoreContract({
      name: `redis (${kind}, ${pubsub} pub/sub)`,
      async create() {
        // Two connections: the peer is another instance.
        const [mine, theirs] = await Promise.all([redis.connectTo(kind), redis.connectTo(kind)]);
        const prefix = uniquePrefix();
        const sessionId = `session-${prefix}`;
        return {
          store: redisStore({ client: mine.client, subscriber: mine.subscriber, sessionId, prefix, pubsub }),
          peer: redisStore({ client: theirs.client, subscriber: theirs.subscriber, sessionId, prefix, pubsub }),
          other: redisStore({ client: mine.client, subscriber: mine.subscriber, sessionId: `${sessionId}-other`, prefix, pubsub }),
        };
      },
    });
  }
}

describe('redisStore', () => {
  const tokens = { accessToken: 'at-secret-1', refreshToken: 'rt-secret-1', expiresAt: 1_900_000_000_000 };

  it('keeps a session in one key whose name hides the session id and carries a Cluster hash tag', async () => {
    const { client, raw } = await redis.connectTo('node-redis');
    const prefix = uniquePrefix();
    const sessionId = 'user-42@example.com';
    await redisStore({ client, sessionId, prefix }).set(tokens);
    const lock = await redisLock({ client, sessionId, prefix }).acquire({ signal: new AbortController().signal, timeoutMs: 500 });
    const keys = ((await raw('KEYS', `${prefix}*`)) as string[]).sort();
    await lock.release();
    expect(keys).toHaveLength(2);
    const tags = keys.map((key) => /\{([^}]+)\}/.exec(key)?.[1]);
    expect(tags[0]).toBeTruthy();
    expect(tags[0]).toBe(tags[1]); // one hash slot for the session's keys
    expect(keys).toEqual([`${prefix}{${tags[0]}}:lock`, `${prefix}{${tags[0]}}:tokens`]);
    for (const key of keys) {
      expect(key).not.toContain(sessionId);
      expect(key).not.toContain('user-42');
      expect(key).not.toContain('secret');
    }
  });

  it('reads corrupt or foreign data as "no tokens", and a write replaces it', async () => {
    const { client, raw } = await redis.connectTo('ioredis');
    const prefix = uniquePrefix();
    const store = redisStore({ client, sessionId: 's', prefix });
    const key = sessionKeys(prefix, 's').tokens;
    const corruptions: string[][] = [
      ['HSET', key, 'v', '3', 'd', 'not json'],
      ['HSET', key, 'v', '3', 'd', JSON.stringify({ format: 2, accessToken: 'a' })],
      ['HSET', key, 'v', '3', 'd', JSON.stringify({ format: 1, accessToken: 42 })],
      ['HSET', key, 'v', '3', 'd', JSON.stringify({ format: 1, accessToken: 'a', refreshToken: null })],
      ['HSET', key, 'v', '3', 'd', JSON.stringify({ format: 1, accessToken: 'a', expiresAt: 'soon' })],
      ['HSET', key, 'v', 'three', 'd', JSON.stringify({ format: 1, accessToken: 'a' })],
      ['HSET', key, 'v', '3', 'd', '[]'],
      ['SET', key, 'a plain string'],
      ['LPUSH', key, 'a list'],
    ];
    for (const corruption of corruptions) {
      await raw('DEL', key);
      await raw(...(corruption as [string, ...string[]]));
      expect(await store.get(), corruption.join(' ')).toBeNull();
      // Compare-and-set agrees with the reader: corrupt is empty (version 0).
      const written = await store.set(tokens, { expectedVersion: 0 });
      expect(written, corruption.join(' ')).not.toBeNull();
      expect(await store.get()).toEqual(written);
    }
  });

  it('sets the record’s TTL from ttlMs on every write (number, function, or none)', async () => {
    const { client, raw } = await redis.connectTo('node-redis');
    const prefix = uniquePrefix();
    const key = (id: string) => sessionKeys(prefix, id).tokens;
    await redisStore({ client, sessionId: 'default', prefix }).set(tokens);
    const defaultTtl = Number(await raw('PTTL', key('default')));
    expect(defaultTtl).toBeGreaterThan(30 * 24 * 3600_000 - 5000);
    expect(defaultTtl).toBeLessThanOrEqual(30 * 24 * 3600_000);

    await redisStore({ client, sessionId: 'fixed', prefix, ttlMs: 60_000 }).set(tokens);
    expect(Number(await raw('PTTL', key('fixed')))).toBeGreaterThan(55_000);

    const byTokens = redisStore({ client, sessionId: 'fn', prefix, ttlMs: (t) => (t.refreshToken ? 120_000 : 10_000) });
    await byTokens.set(tokens);
    expect(Number(await raw('PTTL', key('fn')))).toBeGreaterThan(110_000);
    await byTokens.set({ accessToken: 'no-refresh' });
    const short = Number(await raw('PTTL', key('fn')));
    expect(short).toBeGreaterThan(5_000);
    expect(short).toBeLessThanOrEqual(10_000);

    await redisStore({ client, sessionId: 'none', prefix, ttlMs: () => null }).set(tokens);
    expect(Number(await raw('PTTL', key('none')))).toBe(-1);
  });

  it('publishes only the hashed session id and a version, never a token', async () => {
    const mine = await redis.connectTo('node-redis');
    const spy = await redis.connectTo('node-redis');
    const prefix = uniquePrefix();
    const messages: string[] = [];
    await (spy.subscriber as unknown as { subscribe(c: string, l: (m: string) => void): Promise<void> }).subscribe(`${prefix}events`, (m) => messages.push(m));
    const store = redisStore({ client: mine.client, subscriber: mine.subscriber, sessionId: 'alice', prefix });
    const lock = redisLock({ client: mine.client, subscriber: mine.subscriber, sessionId: 'alice', prefix });
    await store.set(tokens);
    await (await lock.acquire({ signal: new AbortController().signal, timeoutMs: 500 })).release();
    await store.clear();
    await eventually(() => messages.length === 3);
    const id = sessionKeys(prefix, 'alice').id;
    expect(messages).toEqual([expect.stringMatching(new RegExp(`^${id}:t:\\d+$`)), `${id}:l`, `${id}:c`]);
    for (const message of messages) {
      expect(message).not.toContain('secret');
      expect(message).not.toContain('alice');
    }
  });

  it('does not wake its own listeners for its own writes', async () => {
    const mine = await redis.connectTo('ioredis');
    const theirs = await redis.connectTo('ioredis');
    const prefix = uniquePrefix();
    const store = redisStore({ client: mine.client, subscriber: mine.subscriber, sessionId: 's', prefix });
    const peer = redisStore({ client: theirs.client, sessionId: 's', prefix });
    let heard = 0;
    store.subscribe!(() => heard++);
    await new Promise((r) => setTimeout(r, 20));
    await store.set(tokens);
    await new Promise((r) => setTimeout(r, 80));
    expect(heard).toBe(0);
    await peer.set(tokens);
    await eventually(() => heard === 1);
  });

  it('a write, a clear and a release succeed even when their announcement cannot be sent (SPUBLISH before Redis 7.0)', async () => {
    const { client, raw } = await redis.connectTo('ioredis');
    const prefix = uniquePrefix();
    const keys = sessionKeys(prefix, 's');
    const commander = toCommander(client);
    // A publish command the server does not know, as SPUBLISH is to Redis 6.
    const version = await runScript(commander, setScript, keys.tokens, [
      JSON.stringify({ format: 1, ...tokens }),
      '',
      0,
      keys.channel,
      keys.id,
      'NOSUCHPUBLISH',
    ]);
    expect(Number(version)).toBe(1);
    expect(await redisStore({ client, sessionId: 's', prefix }).get()).toEqual({ ...tokens, version: 1 });
    await raw('SET', keys.lock, 'owner-1');
    expect(Number(await runScript(commander, releaseScript, keys.lock, ['owner-1', keys.channel, keys.id, 'NOSUCHPUBLISH']))).toBe(1);
    await runScript(commander, clearScript, keys.tokens, [keys.channel, keys.id, 'NOSUCHPUBLISH']);
    expect(await redisStore({ client, sessionId: 's', prefix }).get()).toBeNull();
  });

  it('has no subscribe without a subscriber connection (other instances adopt at their next refresh)', async () => {
    const { client } = await redis.connectTo('node-redis');
    expect(redisStore({ client, sessionId: 's', prefix: uniquePrefix() }).subscribe).toBeUndefined();
  });

  it('refuses session ids that are not well-formed UTF-16, which would share a record with U+FFFD', async () => {
    const { client } = await redis.connectTo('node-redis');
    const prefix = uniquePrefix();
    for (const sessionId of ['\uD800', '\uDFFF', 'user-\uD800', '\uDC00\uD800']) {
      for (const create of [() => redisStore({ client, sessionId, prefix }), () => redisLock({ client, sessionId, prefix })]) {
        let error: unknown;
        try {
          create();
        } catch (e) {
          error = e;
        }
        expect(isAuthchartError(error, 'INVALID_OPTIONS'), JSON.stringify(sessionId)).toBe(true);
      }
    }
    // Well-formed ids (U+FFFD itself, surrogate pairs) each keep a record of their own.
    const ids = ['\uFFFD', '\uD83D\uDE00', 'user-\uD83D\uDE00'];
    for (const [i, sessionId] of ids.entries()) await redisStore({ client, sessionId, prefix }).set({ accessToken: `at-${i}` });
    for (const [i, sessionId] of ids.entries()) expect((await redisStore({ client, sessionId, prefix }).get())?.accessToken).toBe(`at-${i}`);
  });

  it('refuses options that cannot work', async () => {
    const { client } = await redis.connectTo('node-redis');
    expect(() => redisStore({ client, sessionId: '' })).toThrow(/sessionId/);
    expect(() => redisStore({ client: {} as never, sessionId: 's' })).toThrow(/node-redis|ioredis/);
    const error = (() => {
      try {
        redisStore({ client, sessionId: 's', operationTimeoutMs: -1 });
      } catch (e) {
        return e;
      }
    })();
    expect(isAuthchartError(error, 'INVALID_OPTIONS')).toBe(true);
  });
});
