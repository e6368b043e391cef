/**
 * On a real Cluster: a session's keys and its sharded channel share one hash slot (so its
 * Lua scripts run on one node), sessions spread over every primary, and changes are heard
 * across instances in both pub/sub modes.
 */
import { describe, expect, it } from 'vitest';
import { isAuthchartError } from '../../adapters/core/errors.js';
import { redisLock, redisStore } from '../../adapters/redis/index.js';
import { sessionKeys } from '../../adapters/redis/keys.js';
import { shardedHubFor } from '../../adapters/redis/pubsub.js';
import { eventually } from '../support/contract/token-store.js';
import { clusterNodes, keySlot, primaryOf, rawCommand } from '../support/redis-cluster.js';
import { clientKinds, connectCluster, uniquePrefix, useCluster } from './support/clients.js';

const cluster = useCluster();
const never = () => new AbortController().signal;
const tokens = (n: number) => ({ accessToken: `at-secret-${n}`, refreshToken: `rt-secret-${n}`, expiresAt: 1_900_000_000_000 });

describe('Redis Cluster: one slot per session', () => {
  it('a session’s token key, lock key and sharded channel hash to one slot, and its keys live on that slot’s primary', async () => {
    const { client } = await cluster.connect('node-redis');
    const prefix = uniquePrefix();
    const primaries = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const sessionId = `user-${i}@example.com`;
      const keys = sessionKeys(prefix, sessionId, 'sharded');
      const slots = await Promise.all([keys.tokens, keys.lock, keys.channel].map((key) => keySlot(cluster.info, key)));
      expect(new Set(slots).size, sessionId).toBe(1);

      await redisStore({ client, sessionId, prefix }).set(tokens(i));
      const handle = await redisLock({ client, sessionId, prefix }).acquire({ signal: never(), timeoutMs: 1000 });
      const owner = await primaryOf(cluster.info, slots[0]!);
      primaries.add(owner);
      // Asked of the owner directly (no redirection): both keys are there.
      expect(await rawCommand(owner, `EXISTS ${keys.tokens} ${keys.lock}`)).toBe(':2\r\n');
      await handle.release();
    }
    // 30 sessions spread over the three primaries: no node holds every session.
    const view = await clusterNodes(cluster.info.nodes[0]!.port);
    expect(primaries).toEqual(new Set(view.filter((n) => n.role === 'master').map((n) => n.port)));
  });
});

for (const kind of clientKinds) {
  for (const pubsub of ['sharded', 'global'] as const) {
    describe(`Redis Cluster pub/sub (${kind}, ${pubsub})`, () => {
      it('an instance hears writes, clears and lock releases of sessions on every shard, and no message holds a token', async () => {
        const [mine, theirs] = await Promise.all([cluster.connect(kind), cluster.connect(kind)]);
        const prefix = uniquePrefix();
        const ids = Array.from({ length: 9 }, (_, i) => `session-${i}`);
        const shards = new Set(await Promise.all(ids.map(async (id) => primaryOf(cluster.info, await keySlot(cluster.info, sessionKeys(prefix, id).tokens)))));
        expect(shards.size).toBe(3);
        const heard = new Map<string, number>();
        const unsubscribes = ids.map((id) =>
          redisStore({ client: mine.client, subscriber: mine.subscriber, sessionId: id, prefix, pubsub }).subscribe!(() =>
            heard.set(id, (heard.get(id) ?? 0) + 1),
          ),
        );
        // A spy on the raw messages of the first session.
        const spied: string[] = [];
        const spy = await cluster.connect(kind);
        const keys = sessionKeys(prefix, ids[0]!, pubsub);
        if (pubsub === 'sharded') {
          if (kind === 'node-redis')
            await (spy.subscriber as unknown as { sSubscribe(c: string, l: (m: string) => void): Promise<void> }).sSubscribe(keys.channel, (m) =>
              spied.push(m),
            );
          else {
            const io = spy.subscriber as unknown as { ssubscribe(c: string): Promise<unknown>; on(e: string, l: (c: string, m: string) => void): void };
            io.on('smessage', (_c, m) => spied.push(m));
            await io.ssubscribe(keys.channel);
          }
        } else if (kind === 'node-redis')
          await (spy.subscriber as unknown as { subscribe(c: string, l: (m: string) => void): Promise<void> }).subscribe(keys.channel, (m) => spied.push(m));
        else {
          const io = spy.subscriber as unknown as { subscribe(c: string): Promise<unknown>; on(e: string, l: (c: string, m: string) => void): void };
          io.on('message', (_c, m) => spied.push(m));
          await io.subscribe(keys.channel);
        }
        await new Promise((r) => setTimeout(r, 100)); // the subscriptions are set up

        for (const [i, id] of ids.entries()) await redisStore({ client: theirs.client, sessionId: id, prefix, pubsub }).set(tokens(i));
        await eventually(() => ids.every((id) => heard.get(id) === 1), 3000);
        for (const id of ids) await redisStore({ client: theirs.client, sessionId: id, prefix, pubsub }).clear();
        await eventually(() => ids.every((id) => heard.get(id) === 2), 3000);

        // A waiter on another instance is woken by the release message, not by its poll.
        const lockOptions = { sessionId: ids[0]!, prefix, pubsub, pollIntervalMs: 5000, ttlMs: 10_000 };
        const held = await redisLock({ ...lockOptions, client: theirs.client, subscriber: theirs.subscriber }).acquire({ signal: never(), timeoutMs: 1000 });
        const waiting = redisLock({ ...lockOptions, client: mine.client, subscriber: mine.subscriber }).acquire({ signal: never(), timeoutMs: 4000 });
        await new Promise((r) => setTimeout(r, 150));
        const releasedAt = Date.now();
        await held.release();
        await (await waiting).release();
        expect(Date.now() - releasedAt).toBeLessThan(1000);

        for (const unsubscribe of unsubscribes) unsubscribe();
        if (pubsub === 'sharded') expect(shardedHubFor(mine.subscriber).channelCount).toBe(0);
        // The first session's write, clear and lock release; in global mode every other session's too.
        const own = () => spied.filter((m) => m.startsWith(`${keys.id}:`));
        await eventually(() => own().length >= 3, 2000);
        if (pubsub === 'sharded') expect(spied).toEqual(own());
        for (const message of spied) {
          expect(message).toMatch(/^[\w-]{32}:(t:\d+|c|l)$/);
          expect(message).not.toContain('secret');
        }
      });
    });
  }
}

describe('Redis Cluster: options', () => {
  it('an ioredis Cluster subscriber without shardedSubscribers is refused for sharded pub/sub, with the fix in the message', async () => {
    const plain = await connectCluster('ioredis', cluster.info, { shardedSubscribers: false });
    try {
      let error: unknown;
      try {
        redisStore({ client: plain.client, subscriber: plain.subscriber, sessionId: 's', prefix: uniquePrefix() });
      } catch (e) {
        error = e;
      }
      expect(isAuthchartError(error, 'INVALID_OPTIONS')).toBe(true);
      expect(String(error)).toContain('shardedSubscribers: true');
      // The global mode needs nothing of the kind.
      expect(redisStore({ client: plain.client, subscriber: plain.subscriber, sessionId: 's', prefix: uniquePrefix(), pubsub: 'global' }).subscribe).toBeTypeOf(
        'function',
      );
    } finally {
      await plain.close();
    }
  });
});
