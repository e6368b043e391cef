/** The session manager on Redis: memory follows the active users, not all of them. */
import { describe, expect, it } from 'vitest';
import { isAuthchartError } from '../../adapters/core/errors.js';
import type { Refresher } from '../../adapters/core/ports.js';
import { redisSessionManager, redisStore } from '../../adapters/redis/index.js';
import { sessionKeys } from '../../adapters/redis/keys.js';
import { hubFor } from '../../adapters/redis/pubsub.js';
import { uniquePrefix, useRedis } from './support/clients.js';

const redis = useRedis();
const refresh: Refresher = async () => {
  throw new Error('no refresh expected in this test');
};

describe('redisSessionManager', () => {
  it('holds at most maxSessions in memory and leaves no pub/sub listener behind for dropped sessions', async () => {
    const { client, subscriber } = await redis.connectTo('node-redis');
    const prefix = uniquePrefix();
    const hub = hubFor(subscriber, sessionKeys(prefix, 'any').channel);
    const sessions = redisSessionManager({ client, subscriber, prefix, refresh, maxSessions: 20 });
    for (let i = 0; i < 200; i++) {
      await redisStore({ client, sessionId: `user-${i}`, prefix }).set({ accessToken: `at-${i}`, refreshToken: `rt-${i}`, expiresAt: Date.now() + 60_000 });
    }
    for (let i = 0; i < 200; i++) {
      expect(await sessions.getValidAccessToken(`user-${i}`)).toBe(`at-${i}`);
      expect(sessions.size).toBeLessThanOrEqual(20);
    }
    expect(hub.size).toBe(20);
    await sessions.dispose();
    expect(hub.size).toBe(0);
  });

  it('drops idle sessions after idleTimeoutMs, with their listeners', async () => {
    const { client, subscriber } = await redis.connectTo('ioredis');
    const prefix = uniquePrefix();
    const hub = hubFor(subscriber, sessionKeys(prefix, 'any').channel);
    // Long enough that the five loads (in parallel) are done before the first is idle, even
    // on a busy machine; the sweep runs every idleTimeoutMs / 2.
    const sessions = redisSessionManager({ client, subscriber, prefix, refresh, idleTimeoutMs: 1_500 });
    const users = [0, 1, 2, 3, 4];
    await Promise.all(users.map((i) => sessions.login(`user-${i}`, { accessToken: `at-${i}`, refreshToken: `rt-${i}`, expiresAt: Date.now() + 60_000 })));
    await Promise.all(users.map((i) => sessions.getValidAccessToken(`user-${i}`)));
    expect(sessions.size).toBe(5);
    expect(hub.size).toBe(5);
    const deadline = Date.now() + 8_000;
    while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(sessions.size).toBe(0);
    expect(hub.size).toBe(0);
    // Their tokens stay in Redis: the next request loads the session again.
    expect(await sessions.getValidAccessToken('user-3')).toBe('at-3');
    await sessions.dispose();
  });

  /**
   * The client, with the replies to token reads held back `delayMs` (the read ran on the
   * server when sent): a load in flight that saw the store before a login or logout.
   */
  function slowReads<T extends object>(client: T, delayMs: number): T {
    const slow = (reply: Promise<unknown>, args: unknown[]) =>
      String(args[0]).toUpperCase() === 'HMGET' ? reply.then((value) => new Promise((resolve) => setTimeout(() => resolve(value), delayMs))) : reply;
    return new Proxy(client, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => Promise<unknown>;
        if (key === 'sendCommand') return (args: unknown[], ...rest: unknown[]) => slow(method.call(target, args, ...rest), args);
        if (key === 'call') return (command: string, ...args: unknown[]) => slow(method.call(target, command, ...args), [command]);
        return method.bind(target);
      },
    });
  }

  for (const kind of ['node-redis', 'ioredis'] as const) {
    it(`${kind}: logout(id) while a load of that id is in flight — no old token afterwards, on this instance or another`, async () => {
      const { client, subscriber } = await redis.connectTo(kind);
      const prefix = uniquePrefix();
      const sessions = redisSessionManager({ client: slowReads(client, 100), subscriber, prefix, refresh });
      const other = redisSessionManager({ client, subscriber, prefix, refresh });
      await sessions.login('alice', { accessToken: 'at-old', refreshToken: 'rt-old', expiresAt: Date.now() + 60_000 });
      expect(await other.getValidAccessToken('alice')).toBe('at-old');
      const loading = sessions.getValidAccessToken('alice').catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 20));
      await sessions.logout('alice');
      await loading;
      for (const manager of [sessions, other]) {
        const deadline = Date.now() + 2000;
        let outcome: unknown = await manager.getValidAccessToken('alice').catch((e: unknown) => e);
        while (typeof outcome === 'string' && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
          outcome = await manager.getValidAccessToken('alice').catch((e: unknown) => e);
        }
        expect(isAuthchartError(outcome, 'SESSION_EXPIRED')).toBe(true);
      }
      await Promise.all([sessions.dispose(), other.dispose()]);
    });

    it(`${kind}: login(id) while a load of that id is in flight — the new tokens afterwards`, async () => {
      const { client, subscriber } = await redis.connectTo(kind);
      const prefix = uniquePrefix();
      const sessions = redisSessionManager({ client: slowReads(client, 100), subscriber, prefix, refresh });
      await sessions.login('alice', { accessToken: 'at-old', refreshToken: 'rt-old', expiresAt: Date.now() + 60_000 });
      const loading = sessions.getValidAccessToken('alice');
      await new Promise((r) => setTimeout(r, 20));
      await sessions.login('alice', { accessToken: 'at-new', refreshToken: 'rt-new', expiresAt: Date.now() + 60_000 });
      await loading;
      expect(await sessions.getValidAccessToken('alice')).toBe('at-new');
      await sessions.dispose();
    });
  }
});
