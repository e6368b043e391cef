import { createSessionManager, type SessionManager, type SessionManagerOptions } from '../server/session-manager.js';
import type { PostgresConnectionOptions } from './client.js';
import { postgresLock, type PostgresLockOptions } from './lock.js';
import { postgresStore, type PostgresStoreOptions } from './store.js';

type DriverOptions<T> = Omit<T, keyof PostgresConnectionOptions | 'sessionId'>;

/**
 * Options of {@link postgresSessionManager}: the connection, the manager's, and per-driver options.
 * @example
 * postgresSessionManager({ pool, refresh, tablePrefix: 'myapp_', lock: { ttlMs: 3000 }, store: { ttlMs: 7 * 24 * 3600_000 } })
 */
export interface PostgresSessionManagerOptions extends PostgresConnectionOptions, Omit<SessionManagerOptions, 'store' | 'lock'> {
  /**
   * Options of every session's store (`ttlMs`).
   * @default { ttlMs: 30 days }
   */
  store?: DriverOptions<PostgresStoreOptions>;
  /**
   * Options of every session's lock (`ttlMs`, `renewIntervalMs`, `maxHoldMs`, `pollIntervalMs`).
   * @default { ttlMs: 5000, maxHoldMs: 60000 }
   */
  lock?: DriverOptions<PostgresLockOptions>;
}

/**
 * Server-side sessions on PostgreSQL: {@link createSessionManager} with the PostgreSQL token
 * store and lease lock. Every instance that runs one on the same database and `tablePrefix`
 * makes one token call per expiry per session, however many requests and instances notice it.
 * @example
 * import pg from 'pg'
 * import { oauthRefresher } from 'authchart/oauth'
 * import { ensurePostgresSchema, postgresSessionManager } from 'authchart/postgres'
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, statement_timeout: 5000 })
 * await ensurePostgresSchema(pool)
 * const sessions = postgresSessionManager({ pool, refresh: oauthRefresher({ tokenEndpoint, clientId, clientSecret }) })
 * const token = await sessions.getValidAccessToken(req.session.id)
 */
export function postgresSessionManager(options: PostgresSessionManagerOptions): SessionManager {
  const { pool, tablePrefix, schema, operationTimeoutMs, listen, store, lock, ...manager } = options;
  const connection: PostgresConnectionOptions = { pool, tablePrefix, schema, operationTimeoutMs, listen };
  return createSessionManager({
    ...manager,
    store: (sessionId) => postgresStore({ ...store, ...connection, sessionId }),
    lock: (sessionId) => postgresLock({ ...lock, ...connection, sessionId }),
  });
}
