/** The session manager on Redis: memory follows the active users, not all of them. */
import { describe, expect, it } from 'vitest';
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
    const sessions = redisSessionManager({ client, subscriber, prefix, refresh, idleTimeoutMs: 100 });
    for (let i = 0; i < 5; i++) {
      await sessions.login(`user-${i}`, { accessToken: `at-${i}`, refreshToken: `rt-${i}`, expiresAt: Date.now() + 60_000 });
      await sessions.getValidAccessToken(`user-${i}`);
    }
    expect(sessions.size).toBe(5);
    expect(hub.size).toBe(5);
    const deadline = Date.now() + 2000;
    while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(sessions.size).toBe(0);
    expect(hub.size).toBe(0);
    // Their tokens stay in Redis: the next request loads the session again.
    expect(await sessions.getValidAccessToken('user-3')).toBe('at-3');
    await sessions.dispose();
  });
});
