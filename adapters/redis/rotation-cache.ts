import { positiveOption } from '../core/options.js';
import type { SharedRotationCache } from '../server/rotation-cache.js';
import { bounded, toCommander } from './client.js';
import { defaultPrefix } from './keys.js';
import { redisLock, type RedisLockOptions } from './lock.js';
import type { RedisConnectionOptions } from './store.js';

/**
 * Options of {@link redisRotationCache}.
 * @example
 * redisRotationCache({ client, subscriber, prefix: 'myapp:', lock: { ttlMs: 3000 } })
 */
export interface RedisRotationCacheOptions extends RedisConnectionOptions {
  /**
   * Options of the rotation lock (`ttlMs`, `renewIntervalMs`, `maxHoldMs`, `pollIntervalMs`).
   * @default { ttlMs: 5000, maxHoldMs: 60000 }
   */
  lock?: Omit<RedisLockOptions, keyof RedisConnectionOptions | 'sessionId'>;
}

/**
 * Rotation results and the rotation lock on Redis, for tokens kept in a cookie on several
 * instances (`shared` of the token cookie storage in `authchart/next`). Each result is
 * one string key, `SET … NX PX ttl`: the first instance's result wins and every other
 * instance adopts it. Values are sealed cookies (encrypted with your secret); keys are
 * keyed hashes of refresh tokens: Redis holds no usable token.
 * @example
 * import { createClient } from 'redis'
 * import { redisRotationCache } from 'authchart/redis'
 *
 * const client = await createClient({ url: process.env.REDIS_URL }).connect()
 * const subscriber = await client.duplicate().connect()
 * const shared = redisRotationCache({ client, subscriber })
 */
export function redisRotationCache(options: RedisRotationCacheOptions): SharedRotationCache {
  const commander = toCommander(options.client);
  const prefix = options.prefix ?? defaultPrefix;
  const timeoutMs = positiveOption('operationTimeoutMs', options.operationTimeoutMs, 2000, 'number of milliseconds');
  const keyOf = (key: string) => `${prefix}{rotation:${key}}:result`;
  const asString = (value: unknown): string | null =>
    typeof value === 'string' ? value : value instanceof Uint8Array ? new TextDecoder().decode(value) : null;
  const { client, subscriber, operationTimeoutMs } = options;

  return {
    async get(key) {
      const name = keyOf(key);
      return asString(await bounded(commander, 'read a rotation result', timeoutMs, () => commander.send(['GET', name], name)));
    },
    async add(key, value, ttlMs) {
      const name = keyOf(key);
      const ttl = String(Math.max(1, Math.ceil(ttlMs)));
      // NX, then GET when someone else was first (SET … NX GET needs Redis 7; this runs on 6 too).
      // A retried SET whose first try landed finds our own value: the same outcome.
      const added = await bounded(commander, 'store a rotation result', timeoutMs, () => commander.send(['SET', name, value, 'NX', 'PX', ttl], name));
      if (added !== null && added !== undefined) return value;
      const existing = asString(await bounded(commander, 'read a rotation result', timeoutMs, () => commander.send(['GET', name], name)));
      return existing ?? value;
    },
    lock: (key) => redisLock({ ...options.lock, client, subscriber, prefix, operationTimeoutMs, sessionId: `rotation:${key}` }),
  };
}
