/**
 * `authchart/redis`: many server instances. A token store and a refresh lock on Redis, and a
 * session manager over them. Bring your own client: node-redis (`redis` v4-v6) or ioredis,
 * both optional peer dependencies; authchart never opens a connection.
 */
export { redisStore, defaultRecordTtlMs } from './store.js';
export type { RedisStoreOptions, RedisConnectionOptions } from './store.js';
export { redisLock } from './lock.js';
export type { RedisLockOptions } from './lock.js';
export { redisSessionManager } from './session-manager.js';
export type { RedisSessionManagerOptions } from './session-manager.js';
export type { RedisClientLike, NodeRedisClientLike, IoRedisClientLike, RedisSubscriberLike } from './client.js';
export { RedisUnavailableError } from './errors.js';
export { redisRotationCache } from './rotation-cache.js';
export type { RedisRotationCacheOptions } from './rotation-cache.js';
export { redisDPoPKeys, type RedisDPoPKeysOptions, type DPoPKeySecret } from './dpop-keys.js';
