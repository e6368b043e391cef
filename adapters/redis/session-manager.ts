import { createSessionManager, type SessionManager, type SessionManagerOptions } from '../server/session-manager.js';
import { redisLock, type RedisLockOptions } from './lock.js';
import { redisStore, type RedisConnectionOptions, type RedisStoreOptions } from './store.js';

type DriverOptions<T> = Omit<T, keyof RedisConnectionOptions | 'sessionId'>;

/**
 * Options of {@link redisSessionManager}: the connection, the manager's, and per-driver options.
 * @example
 * redisSessionManager({ client, subscriber, refresh, prefix: 'myapp:', lock: { ttlMs: 3000 }, store: { ttlMs: 7 * 24 * 3600_000 } })
 */
export interface RedisSessionManagerOptions extends RedisConnectionOptions, Omit<SessionManagerOptions, 'store' | 'lock'> {
  /**
   * Options of every session's store (`ttlMs`).
   * @default { ttlMs: 30 days }
   */
  store?: DriverOptions<RedisStoreOptions>;
  /**
   * Options of every session's lock (`ttlMs`, `renewIntervalMs`, `maxHoldMs`, `pollIntervalMs`).
   * @default { ttlMs: 5000, maxHoldMs: 60000 }
   */
  lock?: DriverOptions<RedisLockOptions>;
}

/**
 * Server-side sessions on Redis: {@link createSessionManager} with the Redis token store and
 * refresh lock. Every instance that runs one with the same Redis and `prefix` makes one
 * token call per expiry per session, however many requests and instances notice it.
 * @example
 * import { createClient } from 'redis'
 * import { oauthRefresher } from 'authchart/oauth'
 * import { redisSessionManager } from 'authchart/redis'
 *
 * const client = await createClient({ url: process.env.REDIS_URL }).on('error', console.error).connect()
 * const subscriber = await client.duplicate().connect()
 * const sessions = redisSessionManager({
 *   client,
 *   subscriber,
 *   refresh: oauthRefresher({ tokenEndpoint, clientId, clientSecret }),
 * })
 * const token = await sessions.getValidAccessToken(req.session.id)
 */
export function redisSessionManager(options: RedisSessionManagerOptions): SessionManager {
  const { client, subscriber, prefix, operationTimeoutMs, store, lock, ...manager } = options;
  const connection: RedisConnectionOptions = { client, subscriber, prefix, operationTimeoutMs };
  return createSessionManager({
    ...manager,
    store: (sessionId) => redisStore({ ...store, ...connection, sessionId }),
    lock: (sessionId) => redisLock({ ...lock, ...connection, sessionId }),
  });
}
