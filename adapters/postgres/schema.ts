import { InvalidOptionsError } from '../core/errors.js';
import { positiveOption } from '../core/options.js';
import type { PgPoolLike, PostgresConnectionOptions } from './client.js';
import { boundedQuery, checkPool, operationTimeout, postgresNames } from './client.js';
import { PostgresUnavailableError } from './errors.js';

/**
 * The tables, as idempotent SQL (`CREATE … IF NOT EXISTS`), for a migration tool or a manual
 * run. `ensurePostgresSchema` runs the same statements.
 *
 * - `<prefix>tokens`: one row per session. `id` is the hashed session id; `version` counts
 *   every write and survives a clear (so a version from before never matches again); `record`
 *   is the token record (JSON; NULL once cleared); `expires_at` ends an abandoned session.
 * - `<prefix>locks`: one lease per session being refreshed: `owner` (random per acquire) and
 *   `expires_at`, both read against the database's clock.
 * @example
 * // In a migration:
 * await knex.raw(postgresSchemaSql({ tablePrefix: 'myapp_auth_' }))
 */
export function postgresSchemaSql(options: Pick<PostgresConnectionOptions, 'tablePrefix' | 'schema'> = {}): string {
  const names = postgresNames(options, 'postgresSchemaSql');
  const index = names.tokens.replace(/"$/, '_expires_at"').replace(/^.*\./, '');
  return [
    `CREATE TABLE IF NOT EXISTS ${names.tokens} (id text PRIMARY KEY, version bigint NOT NULL, record jsonb, expires_at timestamptz);`,
    `CREATE TABLE IF NOT EXISTS ${names.locks} (id text PRIMARY KEY, owner text NOT NULL, expires_at timestamptz NOT NULL);`,
    `CREATE INDEX IF NOT EXISTS ${index} ON ${names.tokens} (expires_at) WHERE record IS NOT NULL;`,
  ].join('\n');
}

/**
 * Create the tables if they are missing. Idempotent and safe to run from every instance at
 * once (the creation is serialised with a transaction-scoped advisory lock, released at
 * commit). Call it once at startup; the store and lock never create tables themselves, so
 * the role serving requests needs no CREATE privilege.
 * @example
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * await ensurePostgresSchema(pool)
 */
export async function ensurePostgresSchema(
  pool: PgPoolLike,
  options: Pick<PostgresConnectionOptions, 'tablePrefix' | 'schema' | 'operationTimeoutMs'> = {},
): Promise<void> {
  checkPool(pool, 'ensurePostgresSchema');
  const sql = postgresSchemaSql(options);
  const timeoutMs = Math.max(operationTimeout(options), 10_000);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async () => {
    const client = await pool.connect();
    const query = client.query.bind(client) as (text: string) => Promise<unknown>;
    try {
      await query('BEGIN');
      // Two instances creating the same table at once can fail on a catalog unique index.
      await query(`SELECT pg_advisory_xact_lock(hashtext('authchart schema'))`);
      await query(sql);
      await query('COMMIT');
      client.release?.();
    } catch (error) {
      await query('ROLLBACK').catch(() => undefined);
      client.release?.(error as Error);
      throw error;
    }
  };
  try {
    await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PostgresUnavailableError('create the tables')), timeoutMs);
      }),
    ]);
  } catch (error) {
    if (error instanceof PostgresUnavailableError) throw error;
    throw new PostgresUnavailableError('create the tables', { cause: error, hint: 'Check that the role may CREATE in the schema.' });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Delete the rows of sessions whose record expired more than `graceMs` ago (and lock leases
 * long over). Run it now and then (a daily job): an expired record already reads as "no
 * tokens"; this only frees the space.
 * @example
 * setInterval(() => void deleteExpiredSessions(pool).catch(console.error), 24 * 3600_000).unref()
 */
export async function deleteExpiredSessions(
  pool: PgPoolLike,
  options: Pick<PostgresConnectionOptions, 'tablePrefix' | 'schema'> & {
    /**
     * How long after expiry a row is kept. Its version counter goes with it, so keep this
     * longer than any request can be in flight.
     * @default 86400000 (one day)
     */
    graceMs?: number;
    /**
     * Bound of each of the two DELETE statements; past it, `STORE_UNAVAILABLE`.
     * @default 30000
     */
    operationTimeoutMs?: number;
  } = {},
): Promise<{ sessions: number; locks: number }> {
  checkPool(pool, 'deleteExpiredSessions');
  const names = postgresNames(options, 'deleteExpiredSessions');
  const graceMs = options.graceMs ?? 24 * 3600_000;
  if (!(typeof graceMs === 'number' && graceMs >= 0 && graceMs < Infinity))
    throw new InvalidOptionsError('deleteExpiredSessions: graceMs must be a number of milliseconds (0 or more).');
  const timeoutMs = positiveOption('operationTimeoutMs', options.operationTimeoutMs, 30_000, 'number of milliseconds');
  const sessions = await boundedQuery(
    pool,
    'delete expired sessions',
    timeoutMs,
    `DELETE FROM ${names.tokens} WHERE expires_at < now() - $1::bigint * interval '1 millisecond'`,
    [Math.ceil(graceMs)],
  );
  const locks = await boundedQuery(pool, 'delete ended leases', timeoutMs, `DELETE FROM ${names.locks} WHERE expires_at < now() - interval '1 minute'`, []);
  return { sessions: sessions.rowCount ?? 0, locks: locks.rowCount ?? 0 };
}
