/**
 * `authchart/postgres`: many server instances without Redis. A token store (one row per
 * session, compare-and-set on a version) and a lease lock in PostgreSQL, change notifications
 * through LISTEN/NOTIFY, and a session manager over them. Bring your own `pg` pool (an
 * optional peer dependency); authchart never opens a connection of its own.
 */
export { postgresStore } from './store.js';
export type { PostgresStoreOptions } from './store.js';
export { postgresLock } from './lock.js';
export type { PostgresLockOptions } from './lock.js';
export { postgresSessionManager } from './session-manager.js';
export type { PostgresSessionManagerOptions } from './session-manager.js';
export { ensurePostgresSchema, postgresSchemaSql, deleteExpiredSessions } from './schema.js';
export type { PostgresConnectionOptions, PgPoolLike, PgListenClientLike, PgResult } from './client.js';
export { PostgresUnavailableError } from './errors.js';
