import { describe, expect, it } from 'vitest';
import { isAuthchartError } from '../../adapters/core/errors.js';
import { postgresLock, postgresStore } from '../../adapters/postgres/index.js';
import { notificationHubFor } from '../../adapters/postgres/notifications.js';
import { hashedSessionId } from '../../adapters/server/session-id.js';
import { eventually } from '../support/contract/token-store.js';
import { describeRefreshLockContract } from '../support/contract/refresh-lock.js';
import { usePostgres } from './support/pg.js';

const postgres = usePostgres();
const { tablePrefix } = postgres;
const never = () => new AbortController().signal;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let locks = 0;

for (const listen of [true, false]) {
  describeRefreshLockContract({
    name: `postgres (pg, ${listen ? 'LISTEN/NOTIFY' : 'polling'})`,
    async create({ maxHoldMs, ttlMs = 150 }) {
      // Two pools: two instances. The lease outlives a silent holder by ttlMs: keep it short so maxHoldMs decides.
      const options = { sessionId: `lock-${++locks}`, tablePrefix, ttlMs, maxHoldMs, listen };
      return {
        lock: postgresLock({ ...options, pool: postgres.pool() }),
        peer: postgresLock({ ...options, pool: postgres.pool() }),
      };
    },
  });
}

describe('postgresLock', () => {
  const lease = async (pool: ReturnType<typeof postgres.pool>, sessionId: string) =>
    (
      await pool.query(`SELECT owner, extract(epoch FROM expires_at - now()) * 1000 AS ms FROM "${tablePrefix}locks" WHERE id = $1`, [
        hashedSessionId(sessionId, 'test'),
      ])
    ).rows[0] as { owner: string; ms: string } | undefined;

  it('is a lease row with an owner and an expiry, and holds no connection, advisory lock or transaction while held', async () => {
    const pool = postgres.pool({ max: 1 });
    const handle = await postgresLock({ pool, sessionId: 'lease', tablePrefix, ttlMs: 5000, listen: false }).acquire({ signal: never(), timeoutMs: 1000 });
    const row = await lease(pool, 'lease');
    expect(row?.owner).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(row?.ms)).toBeGreaterThan(4000);
    expect(Number(row?.ms)).toBeLessThanOrEqual(5000);
    // The pool's only connection is free: the store works while the lock is held.
    expect(pool.totalCount - pool.idleCount).toBe(0);
    await postgresStore({ pool, sessionId: 'lease', tablePrefix, listen: false }).set({ accessToken: 'a' });
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'`);
    expect(rows[0].n).toBe(0);
    const open = await pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'`);
    expect(open.rows[0].n).toBe(0);
    await handle.release();
    expect(await lease(pool, 'lease')).toBeUndefined();
  });

  it('renews itself while held, so a slow refresh keeps it past ttlMs', async () => {
    const options = { sessionId: 'renew', tablePrefix, ttlMs: 600, listen: false } as const;
    const held = await postgresLock({ ...options, pool: postgres.pool() }).acquire({ signal: never(), timeoutMs: 500 });
    await sleep(1500);
    const error = await postgresLock({ ...options, pool: postgres.pool() })
      .acquire({ signal: never(), timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(isAuthchartError(error, 'LOCK_TIMEOUT')).toBe(true);
    await held.release();
  });

  it('renews on the LISTEN connection, so a pool saturated by other statements does not let the lease run out', async () => {
    const pool = postgres.pool({ max: 2 });
    const options = { sessionId: 'saturated', tablePrefix, ttlMs: 600 };
    // As in a session: its store listens, so the process holds a LISTEN connection.
    const unsubscribe = postgresStore({ ...options, pool }).subscribe!(() => undefined);
    const hub = notificationHubFor(pool, true, `${tablePrefix}events`);
    await eventually(() => hub.connected);
    const held = await postgresLock({ ...options, pool }).acquire({ signal: never(), timeoutMs: 1000 });
    // The holder's process is busy: its pool's other connection runs a long statement, and more wait behind it.
    const busy = Array.from({ length: 3 }, () => pool.query('SELECT pg_sleep(1)').catch(() => undefined));
    await eventually(() => pool.waitingCount > 0);
    expect(hub.connected).toBe(true);
    // Another instance cannot take the lock: the lease is renewed though the pool's queue is full.
    const error = await postgresLock({ ...options, pool: postgres.pool(), listen: false })
      .acquire({ signal: never(), timeoutMs: 1500 })
      .catch((e: unknown) => e);
    expect(isAuthchartError(error, 'LOCK_TIMEOUT')).toBe(true);
    await Promise.all(busy);
    await held.release();
    unsubscribe();
  });

  it('takes over a lease whose holder died (no renewal) once it expires, not before', async () => {
    const pool = postgres.pool();
    await pool.query(`INSERT INTO "${tablePrefix}locks" (id, owner, expires_at) VALUES ($1, 'a-dead-owner', now() + interval '400 milliseconds')`, [
      hashedSessionId('dead', 'test'),
    ]);
    const started = Date.now();
    const handle = await postgresLock({ pool, sessionId: 'dead', tablePrefix, listen: false, pollIntervalMs: 5000 }).acquire({
      signal: never(),
      timeoutMs: 3000,
    });
    const waited = Date.now() - started;
    // Woken by the holder's expiry (read from the row), not by the 5 s poll.
    expect(waited).toBeGreaterThanOrEqual(300);
    expect(waited).toBeLessThan(1500);
    await handle.release();
  });

  it('releases only its own lease: a lease taken over by another owner is left alone', async () => {
    const pool = postgres.pool();
    const handle = await postgresLock({ pool, sessionId: 'mine', tablePrefix }).acquire({ signal: never(), timeoutMs: 500 });
    await pool.query(`UPDATE "${tablePrefix}locks" SET owner = 'someone-else' WHERE id = $1`, [hashedSessionId('mine', 'test')]);
    await handle.release();
    expect((await lease(pool, 'mine'))?.owner).toBe('someone-else');
  });

  it('wakes a waiter by NOTIFY on release, not by its poll', async () => {
    const options = { sessionId: 'wake', tablePrefix, pollIntervalMs: 5000, ttlMs: 10_000 };
    const held = await postgresLock({ ...options, pool: postgres.pool() }).acquire({ signal: never(), timeoutMs: 500 });
    const waiting = postgresLock({ ...options, pool: postgres.pool() }).acquire({ signal: never(), timeoutMs: 4000 });
    await sleep(150);
    const releasedAt = Date.now();
    await held.release();
    const next = await waiting;
    expect(Date.now() - releasedAt).toBeLessThan(500);
    await next.release();
  });
});
