import { positiveOption } from '../core/options.js';
import type { RefreshLock } from '../core/ports.js';
import { leaseLock, type LeaseBackend } from '../server/lease-lock.js';
import { boundedQuery, type PostgresConnectionOptions } from './client.js';
import { postgresSession } from './store.js';

/**
 * Options of {@link postgresLock}.
 * @example
 * postgresLock({ pool, sessionId, ttlMs: 5000, pollIntervalMs: 250 })
 */
export interface PostgresLockOptions extends PostgresConnectionOptions {
  /** The session the lock belongs to (hashed into the row id). */
  sessionId: string;
  /**
   * Length of the lease. While the holder lives it renews the lease, so this is how long the
   * others wait when a holder dies (crash, SIGKILL) before one of them takes over. Keep it
   * below the session's `lockTimeoutMs`, or waiters give up first.
   * @default 5000
   */
  ttlMs?: number;
  /**
   * How often the holder extends the lease while its refresh runs.
   * @default ttlMs / 3
   */
  renewIntervalMs?: number;
  /**
   * Longest a holder keeps renewing. A handle that is never released (a bug, a refresh that
   * ignores its bound) stops being renewed then and the lease ends `ttlMs` later.
   * @default 60000
   */
  maxHoldMs?: number;
  /**
   * How often a waiter tries again when it hears nothing. With `listen` this is only a safety
   * net (a release wakes waiters at once); without it, it is how waiters learn. Each wait is
   * also cut short when the holder's lease ends. ±20 % jitter.
   * @default 500 with listen, 100 without
   */
  pollIntervalMs?: number;
}

/**
 * The refresh lock of one session in PostgreSQL: a lease row (`owner`, `expires_at` on the
 * database's clock), taken by one `INSERT … ON CONFLICT DO UPDATE … WHERE expired or mine`,
 * renewed while the refresh runs, released only by its owner (`DELETE … WHERE owner = $2`,
 * with a NOTIFY that wakes the waiters). Waiting is bounded by `timeoutMs` and stops when the
 * signal aborts.
 *
 * No advisory lock and no open transaction is held while the token call runs: each step is
 * one short statement, so the lock costs no pooled connection while it is held, and a holder
 * that dies loses it when its lease ends, whatever became of its connection.
 * @example
 * const lock = postgresLock({ pool, sessionId, ttlMs: 5000 })
 */
export function postgresLock(options: PostgresLockOptions): RefreshLock {
  const { pool, id, names, timeoutMs: operationTimeoutMs, hub } = postgresSession(options, 'postgresLock');
  const ttlMs = Math.ceil(positiveOption('ttlMs', options.ttlMs, 5000, 'number of milliseconds'));
  const renewIntervalMs = positiveOption('renewIntervalMs', options.renewIntervalMs, Math.max(1, Math.floor(ttlMs / 3)), 'number of milliseconds');
  const maxHoldMs = positiveOption('maxHoldMs', options.maxHoldMs, 60_000, 'number of milliseconds');
  const pollIntervalMs = positiveOption('pollIntervalMs', options.pollIntervalMs, hub ? 500 : 100, 'number of milliseconds');
  const { locks: table, channel } = names;
  const lease = `now() + $3::bigint * interval '1 millisecond'`;
  // The outer query reads the table as it was before the statement: when the lease is held by
  // another, that holder's time left.
  const take = `WITH taken AS (INSERT INTO ${table} AS l (id, owner, expires_at) VALUES ($1, $2, ${lease})
    ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
    WHERE l.expires_at <= now() OR l.owner = EXCLUDED.owner RETURNING 1)
    SELECT (SELECT count(*) FROM taken)::int AS won,
      (SELECT ceil(extract(epoch FROM (h.expires_at - now())) * 1000)::bigint FROM ${table} AS h WHERE h.id = $1) AS remaining`;
  const renew = `UPDATE ${table} SET expires_at = ${lease} WHERE id = $1 AND owner = $2`;
  const release = `WITH gone AS (DELETE FROM ${table} WHERE id = $1 AND owner = $2 RETURNING 1) SELECT pg_notify($3, $1 || ':l') FROM gone`;

  // Renewals take the LISTEN connection when there is one: in the pool's queue, behind the
  // statements of a herd of refreshes, they could wait past the end of the lease, and another
  // instance would take it and refresh with the same refresh token.
  const renewer = { query: (text: string, values?: unknown[]) => hub?.query(text, values ?? []) ?? pool.query(text, values) };
  const backend: LeaseBackend = {
    async take(owner, boundMs) {
      const { rows } = await boundedQuery(pool, 'take the refresh lock', boundMs, take, [id, owner, ttlMs]);
      const remaining = rows[0]?.remaining;
      return { won: Number(rows[0]?.won) === 1, holderRemainingMs: remaining === null || remaining === undefined ? undefined : Math.max(0, Number(remaining)) };
    },
    async renew(owner, boundMs) {
      const { rowCount } = await boundedQuery(renewer, 'renew the refresh lock', boundMs, renew, [id, owner, ttlMs]);
      return rowCount === 1;
    },
    async release(owner) {
      await boundedQuery(pool, 'release the refresh lock', operationTimeoutMs, release, [id, owner, channel]);
    },
  };
  if (hub) {
    backend.onRelease = (listener) => ({
      stop: hub.listen(id, (event) => {
        if (event.kind === 'l' || event.kind === 'resync') listener();
      }),
      ready: hub.ready(),
    });
  }
  return leaseLock(backend, { renewIntervalMs, maxHoldMs, pollIntervalMs, operationTimeoutMs });
}
