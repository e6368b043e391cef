import { InvalidOptionsError } from '../core/errors.js';
import type { StoredTokens, TokenSet, TokenStore } from '../core/ports.js';
import { ownWrites } from '../server/own-writes.js';
import { hashedSessionId } from '../server/session-id.js';
import { pickTokens, RECORD_FORMAT, validateRecord } from '../core/record.js';
import { boundedQuery, checkPool, operationTimeout, postgresNames, type PgPoolLike, type PostgresConnectionOptions, type PostgresNames } from './client.js';
import { notificationHubFor, type NotificationHub } from './notifications.js';

/**
 * Options of {@link postgresStore}.
 * @example
 * postgresStore({ pool, sessionId, tablePrefix: 'myapp_auth_', ttlMs: 14 * 24 * 3600_000 })
 */
export interface PostgresStoreOptions extends PostgresConnectionOptions {
  /** The session the record belongs to (hashed into the row id; never stored in clear). */
  sessionId: string;
  /**
   * How long the record lives after each write: the refresh token's lifetime, so an abandoned
   * session reads as "no tokens" afterwards (`deleteExpiredSessions` frees its row). A number,
   * or a function of the tokens written (return `null` or `0` for no expiry).
   * @default 2592000000 (30 days)
   * @example
   * ttlMs: (tokens) => (tokens.refreshToken ? 14 * 24 * 3600_000 : 3600_000)
   */
  ttlMs?: number | ((tokens: TokenSet) => number | null);
}

/** What the PostgreSQL store and lock of one session share. */
export interface PostgresSession {
  pool: PgPoolLike;
  id: string;
  names: PostgresNames;
  timeoutMs: number;
  /** Notifications of this process, when `listen` is on. */
  hub: NotificationHub | null;
}

/** Check the connection options and derive what the store and lock of a session use. */
export function postgresSession(options: PostgresConnectionOptions & { sessionId: string }, driver: string): PostgresSession {
  const id = hashedSessionId(options.sessionId, driver);
  const pool = checkPool(options.pool, driver);
  const names = postgresNames(options, driver);
  const listen = options.listen ?? true;
  if (typeof listen !== 'boolean' && typeof listen !== 'function')
    throw new InvalidOptionsError(`${driver}: listen must be true, false or a function that opens a client.`);
  return { pool, id, names, timeoutMs: operationTimeout(options), hub: listen === false ? null : notificationHubFor(pool, listen, names.channel) };
}

/** @default 30 days */
const defaultRecordTtlMs = 30 * 24 * 60 * 60 * 1000;

/**
 * A record that counts: present, not expired, and of the shape authchart writes. Anything
 * else is "no tokens" for readers and version 0 for compare-and-set, as in the Redis store.
 */
const live = (t: string) =>
  `(${t}.record IS NOT NULL AND (${t}.expires_at IS NULL OR ${t}.expires_at > now()) AND jsonb_typeof(${t}.record) = 'object' ` +
  `AND ${t}.record -> 'format' = '${RECORD_FORMAT}'::jsonb AND jsonb_typeof(${t}.record -> 'accessToken') = 'string' AND ${t}.record ->> 'accessToken' <> '' ` +
  `AND coalesce(jsonb_typeof(${t}.record -> 'refreshToken'), 'string') = 'string' AND coalesce(jsonb_typeof(${t}.record -> 'expiresAt'), 'number') = 'number')`;

const expiry = (param: string) => `CASE WHEN ${param}::bigint > 0 THEN now() + ${param}::bigint * interval '1 millisecond' END`;

/**
 * The token store of one session in PostgreSQL: one row per session (`version`, `record`),
 * written by a single compare-and-set statement on the version, with an expiry renewed on
 * every write. The version counter stays when the record is cleared, so a version from before
 * never matches a later record. What is stored is validated on every read: corrupt data is
 * "no tokens", never a crash. Writes and clears NOTIFY `<prefix>events` with the hashed
 * session id and the new version (never a token); with `listen`, `subscribe` hears those of
 * other instances.
 *
 * Every call is one statement, bounded by `operationTimeoutMs`; past it, `STORE_UNAVAILABLE`.
 * The tables must exist: {@link ensurePostgresSchema}.
 * @example
 * import pg from 'pg'
 * import { ensurePostgresSchema, postgresLock, postgresStore } from 'authchart/postgres'
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * await ensurePostgresSchema(pool)
 * const session = createSession({ refresh, store: postgresStore({ pool, sessionId }), lock: postgresLock({ pool, sessionId }) })
 */
export function postgresStore(options: PostgresStoreOptions): TokenStore {
  const { pool, id, names, timeoutMs, hub } = postgresSession(options, 'postgresStore');
  const ttlOption = options.ttlMs ?? defaultRecordTtlMs;
  if (typeof ttlOption !== 'function' && !(typeof ttlOption === 'number' && ttlOption >= 0 && ttlOption < Infinity)) {
    throw new InvalidOptionsError('postgresStore: ttlMs must be a number of milliseconds (0 for none) or a function of the tokens.');
  }
  const ttlOf = (tokens: TokenSet): number => {
    const ttl = typeof ttlOption === 'function' ? ttlOption(tokens) : ttlOption;
    return ttl && ttl > 0 && Number.isFinite(ttl) ? Math.ceil(ttl) : 0;
  };
  const { tokens: table, channel } = names;
  // $1 id, $2 record, $3 ttl ms, $4 channel (, $5 expected version).
  const notifyWritten = `SELECT version, pg_notify($4, $1 || ':t:' || version) FROM w`;
  const writeAny = `WITH w AS (INSERT INTO ${table} AS t (id, version, record, expires_at) VALUES ($1, 1, $2::jsonb, ${expiry('$3')})
    ON CONFLICT (id) DO UPDATE SET version = t.version + 1, record = EXCLUDED.record, expires_at = EXCLUDED.expires_at RETURNING t.version) ${notifyWritten}`;
  const writeIfEmpty = `WITH w AS (INSERT INTO ${table} AS t (id, version, record, expires_at) VALUES ($1, 1, $2::jsonb, ${expiry('$3')})
    ON CONFLICT (id) DO UPDATE SET version = t.version + 1, record = EXCLUDED.record, expires_at = EXCLUDED.expires_at
    WHERE NOT ${live('t')} RETURNING t.version) ${notifyWritten}`;
  const writeIfVersion = `WITH w AS (UPDATE ${table} AS t SET version = t.version + 1, record = $2::jsonb, expires_at = ${expiry('$3')}
    WHERE t.id = $1 AND t.version = $5::bigint AND ${live('t')} RETURNING t.version) ${notifyWritten}`;
  const read = `SELECT t.version, t.record FROM ${table} AS t WHERE t.id = $1 AND ${live('t')}`;
  const clear = `WITH c AS (UPDATE ${table} SET record = NULL WHERE id = $1) SELECT pg_notify($2, $1 || ':c')`;

  // Its own writes, echoed back by NOTIFY, need not wake its listeners.
  const own = ownWrites();

  const store: TokenStore = {
    async get() {
      const { rows } = await boundedQuery(pool, 'read tokens', timeoutMs, read, [id]);
      const row = rows[0];
      if (!row || typeof row.record !== 'object' || row.record === null) return null;
      const record = validateRecord({ ...row.record, version: Number(row.version) });
      if (record) own.saw(record.version);
      return record;
    },
    async set(tokens, setOptions) {
      const record = pickTokens(tokens);
      if (typeof record.accessToken !== 'string' || record.accessToken === '') throw new InvalidOptionsError('A token set needs an access token.');
      // The version is kept in its own column.
      const data = JSON.stringify({ format: RECORD_FORMAT, ...record });
      const expected = setOptions?.expectedVersion;
      const values: unknown[] = [id, data, ttlOf(record), channel];
      let text = writeAny;
      if (expected === 0) text = writeIfEmpty;
      else if (expected !== undefined) {
        text = writeIfVersion;
        values.push(expected);
      }
      const { rows } = await own.track(boundedQuery(pool, 'write tokens', timeoutMs, text, values));
      if (!rows[0]) return null;
      const written: StoredTokens = { ...record, version: Number(rows[0].version) };
      own.saw(written.version);
      return written;
    },
    async clear() {
      await boundedQuery(pool, 'clear tokens', timeoutMs, clear, [id, channel]);
    },
  };
  if (hub) {
    store.subscribe = (listener) =>
      hub.listen(id, (event) => {
        if (event.kind === 'l') return;
        if (event.kind === 't') own.unlessOwn(event.version, listener);
        else listener();
      });
  }
  return store;
}
