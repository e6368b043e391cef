/**
 * The tiny part of `pg` authchart uses, and the bound every query runs under. authchart never
 * opens a connection of its own: it uses the pool you give it (and, for LISTEN, one client
 * checked out of it, or one you open).
 */
import { InvalidOptionsError } from '../core/errors.js';
import { positiveOption } from '../core/options.js';
import { PostgresUnavailableError } from './errors.js';

/** What a query answers (pg's `QueryResult`, the fields used). */
export interface PgResult {
  rows: Record<string, unknown>[];
  rowCount: number | null;
}

/** A client that LISTENs: a `pg.Client` or a `pg.PoolClient`. */
export interface PgListenClientLike {
  query(text: string, values?: unknown[]): Promise<unknown>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown;
  removeAllListeners?(event?: string): unknown;
  /** A pool client gives itself back (destroyed when given an error). */
  release?(error?: Error | boolean): void;
  /** A client you opened is closed. */
  end?(): Promise<void>;
}

/** A `pg.Pool` (node-postgres 8): `query` for every statement, `connect` for the LISTEN client. */
export interface PgPoolLike {
  query(text: string, values?: unknown[]): Promise<PgResult>;
  connect(): Promise<PgListenClientLike>;
}

/** Options shared by the PostgreSQL store, lock and session manager. */
export interface PostgresConnectionOptions {
  /**
   * Your `pg.Pool`. authchart runs every statement through it (one at a time, no transaction
   * spans a call) and never holds a pooled connection while a token call runs.
   * @example
   * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 })
   */
  pool: PgPoolLike;
  /**
   * Prefix of the tables (`<prefix>tokens`, `<prefix>locks`) and of the notification channel
   * (`<prefix>events`). Lower-case letters, digits and `_`.
   * @default 'authchart_'
   */
  tablePrefix?: string;
  /**
   * Schema of the tables (lower-case letters, digits and `_`).
   * @default undefined (the connection's search_path, usually `public`)
   */
  schema?: string;
  /**
   * Bound of one statement (retries included while the connection is down). Past it the call
   * fails with `STORE_UNAVAILABLE`. A statement given up on may still run to its end on the
   * server: set `statement_timeout` on the pool too, so it does not hold a connection long.
   * @default 2000
   */
  operationTimeoutMs?: number;
  /**
   * Change notifications (LISTEN/NOTIFY): other instances learn of new tokens at once, and
   * lock waiters wake when the lock is released.
   * - `true`: one client is checked out of `pool` for as long as something listens (one per
   *   process and channel, whatever the number of sessions). Size the pool for it.
   * - a function opening a dedicated client: when `pool` goes through a pooler in
   *   transaction mode (PgBouncer, Supavisor on port 6543), where LISTEN does not work; open
   *   a direct connection, e.g. `async () => { const c = new pg.Client(directUrl); await c.connect(); return c }`.
   * - `false`: none; lock waiters poll (`pollIntervalMs`) and instances adopt new tokens at
   *   their next refresh (after taking the lock they re-read the store): still one token call
   *   per expiry.
   * @default true
   */
  listen?: boolean | (() => Promise<PgListenClientLike>);
}

/** Table and channel names, checked once (they are spliced into SQL, so only plain identifiers). */
export interface PostgresNames {
  tokens: string;
  locks: string;
  channel: string;
}

/** @default 'authchart_' */
export const defaultTablePrefix = 'authchart_';

const identifier = /^[a-z_][a-z0-9_]*$/;

export function postgresNames(options: Pick<PostgresConnectionOptions, 'tablePrefix' | 'schema'>, driver: string): PostgresNames {
  const prefix = options.tablePrefix ?? defaultTablePrefix;
  if (typeof prefix !== 'string' || !identifier.test(prefix) || prefix.length > 40) {
    throw new InvalidOptionsError(`${driver}: tablePrefix must be lower-case letters, digits and _ (at most 40), starting with a letter or _.`);
  }
  if (options.schema !== undefined && (typeof options.schema !== 'string' || !identifier.test(options.schema) || options.schema.length > 63)) {
    throw new InvalidOptionsError(`${driver}: schema must be lower-case letters, digits and _, starting with a letter or _.`);
  }
  const qualified = (name: string) => (options.schema ? `"${options.schema}"."${name}"` : `"${name}"`);
  const channel = `${options.schema ? `${options.schema}_` : ''}${prefix}events`;
  // Longer names would be cut by PostgreSQL (NAMEDATALEN), and LISTEN would not match NOTIFY.
  if (channel.length > 63) throw new InvalidOptionsError(`${driver}: schema and tablePrefix together are too long for a channel name (63 characters).`);
  return { tokens: qualified(`${prefix}tokens`), locks: qualified(`${prefix}locks`), channel };
}

export function checkPool(pool: unknown, driver: string): PgPoolLike {
  const candidate = pool as Partial<PgPoolLike> | null;
  if (typeof candidate?.query !== 'function' || typeof candidate.connect !== 'function') {
    throw new InvalidOptionsError(`${driver} needs a pg.Pool (pool: new pg.Pool({ connectionString })).`);
  }
  return candidate as PgPoolLike;
}

export function operationTimeout(options: Pick<PostgresConnectionOptions, 'operationTimeoutMs'>): number {
  return positiveOption('operationTimeoutMs', options.operationTimeoutMs, 2000, 'number of milliseconds');
}

/**
 * SQLSTATE codes (and socket errors) after which trying again may work: the connection broke
 * (class 08), the server is shutting down or starting (57P01-57P03), too many connections
 * (53300), a serialization failure or deadlock (40001, 40P01).
 */
function retryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return true; // no SQLSTATE: the connection, not the query
  if (/^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, …
  return code.startsWith('08') || ['57P01', '57P02', '57P03', '53300', '40001', '40P01'].includes(code);
}

/**
 * Copy only what identifies a driver error: its name, SQLSTATE and message. Data errors
 * (classes 22, 23) may quote a value, so theirs is left out.
 */
function sanitize(error: unknown): Error {
  const source = error as { name?: unknown; message?: unknown; code?: unknown } | null;
  const code = typeof source?.code === 'string' ? source.code : undefined;
  const quotesValues = code !== undefined && (code.startsWith('22') || code.startsWith('23'));
  const copy = new Error(quotesValues ? `SQLSTATE ${code}` : typeof source?.message === 'string' ? source.message : String(error));
  copy.name = typeof source?.name === 'string' ? source.name : 'Error';
  if (code) (copy as Error & { code?: string }).code = code;
  return copy;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Run one statement within `timeoutMs`: retried after a quick failure of the connection,
 * awaited while it hangs. Past the bound, or at once for an error PostgreSQL answered that
 * retrying cannot fix: {@link PostgresUnavailableError}. Statements are written so that
 * running one twice is harmless (a lock taken again by its owner, a compare-and-set that
 * then finds its own write).
 */
export async function boundedQuery(pool: Pick<PgPoolLike, 'query'>, operation: string, timeoutMs: number, text: string, values: unknown[]): Promise<PgResult> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  const unavailable = () => new PostgresUnavailableError(operation, { cause: lastError === undefined ? undefined : sanitize(lastError) });
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw unavailable();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), remaining);
    });
    const attempt = pool.query(text, values);
    // An abandoned attempt may still settle later: nothing waits for it.
    attempt.catch(() => undefined);
    try {
      const outcome = await Promise.race([attempt, timedOut]);
      if (outcome === 'timeout') throw unavailable();
      return outcome;
    } catch (error) {
      if (error instanceof PostgresUnavailableError) throw error;
      if (!retryable(error)) {
        const code = (error as { code?: unknown }).code;
        const hint =
          code === '42P01' ? 'Its tables are missing: call ensurePostgresSchema(pool) once at startup (or run postgresSchemaSql() in a migration).' : undefined;
        throw new PostgresUnavailableError(operation, { cause: sanitize(error), hint });
      }
      lastError = error;
      await sleep(Math.min(50, Math.max(0, deadline - Date.now())));
    } finally {
      clearTimeout(timer);
    }
  }
}
