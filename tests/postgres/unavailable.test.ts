/**
 * PostgreSQL that does not answer: a table locked by a migration, the server stopped (as in
 * a crash) and started again, tables never created, a host that accepts and never answers.
 * Every call fails within operationTimeoutMs with a typed, transient STORE_UNAVAILABLE that
 * holds no token, and everything works again once the server does.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { inspect } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { isAuthchartError } from '../../adapters/core/errors.js';
import { postgresLock, postgresStore, PostgresUnavailableError } from '../../adapters/postgres/index.js';
import { eventually } from '../support/contract/token-store.js';
import { startPostgres, stopPostgres } from '../support/postgres-server.js';
import { uniqueTablePrefix, usePostgres } from './support/pg.js';

const postgres = usePostgres();
const { tablePrefix } = postgres;
const never = () => new AbortController().signal;
const tokens = { accessToken: 'at-secret-1', refreshToken: 'rt-secret-1', expiresAt: 1_900_000_000_000 };
const BOUND_MS = 400;

async function failure(run: () => unknown): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const error = await Promise.resolve()
    .then(run)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  return { error, ms: Date.now() - started };
}

function expectUnavailable({ error, ms }: { error: unknown; ms: number }): void {
  expect(isAuthchartError(error, 'STORE_UNAVAILABLE'), String(error)).toBe(true);
  expect(error).toBeInstanceOf(PostgresUnavailableError);
  expect((error as PostgresUnavailableError).kind).toBe('transient');
  expect(String((error as Error).message)).toMatch(/^\[authchart\] PostgreSQL/);
  expect(inspect(error, { depth: 10 })).not.toContain('secret');
  expect(ms).toBeGreaterThanOrEqual(BOUND_MS - 20);
  expect(ms).toBeLessThan(BOUND_MS + 1500);
}

describe('PostgreSQL unavailable', () => {
  it('a table locked by another transaction: reads, writes and the lock fail within the bound, then work once it is released', async () => {
    const pool = postgres.pool();
    const store = postgresStore({ pool, sessionId: 'locked', tablePrefix, operationTimeoutMs: BOUND_MS, listen: false });
    const lock = postgresLock({ pool, sessionId: 'locked', tablePrefix, operationTimeoutMs: BOUND_MS, listen: false });
    const migration = await postgres.pool().connect();
    await migration.query('BEGIN');
    await migration.query(`LOCK TABLE "${tablePrefix}tokens", "${tablePrefix}locks" IN ACCESS EXCLUSIVE MODE`);
    expectUnavailable(await failure(() => store.get()));
    expectUnavailable(await failure(() => store.set(tokens)));
    expectUnavailable(await failure(() => lock.acquire({ signal: never(), timeoutMs: 5000 })));
    await migration.query('ROLLBACK');
    migration.release();
    // The statements given up on ran once the table was free (a set, a take): harmless, as promised.
    await eventually(() => pool.waitingCount === 0 && pool.idleCount === pool.totalCount, 3000);
    expect((await store.set(tokens))?.accessToken).toBe(tokens.accessToken);
    await (await lock.acquire({ signal: never(), timeoutMs: 6000 })).release();
  });

  it('the server stopped: calls fail within the bound; started again, everything works and listeners re-read', async () => {
    const pool = postgres.pool();
    const peerPool = postgres.pool();
    const store = postgresStore({ pool, sessionId: 'restart', tablePrefix, operationTimeoutMs: BOUND_MS });
    const peer = postgresStore({ pool: peerPool, sessionId: 'restart', tablePrefix, operationTimeoutMs: 5000, listen: false });
    const lock = postgresLock({ pool, sessionId: 'restart', tablePrefix, operationTimeoutMs: BOUND_MS });
    await store.set(tokens);
    let heard = 0;
    const unsubscribe = store.subscribe!(() => heard++);
    await new Promise((r) => setTimeout(r, 100));
    stopPostgres(postgres.info);
    try {
      expectUnavailable(await failure(() => store.get()));
      expectUnavailable(await failure(() => store.set(tokens)));
      expectUnavailable(await failure(() => lock.acquire({ signal: never(), timeoutMs: 5000 })));
    } finally {
      startPostgres(postgres.info);
    }
    expect(await store.get()).toEqual({ ...tokens, version: expect.any(Number) });
    // The LISTEN connection comes back by itself; its listeners are told to re-read (what was sent meanwhile is lost).
    await eventually(() => heard >= 1, 5000);
    const before = heard;
    await peer.set({ ...tokens, accessToken: 'at-secret-2' });
    await eventually(() => heard > before, 3000);
    unsubscribe();
  });

  it('tables never created: the error says to call ensurePostgresSchema', async () => {
    const store = postgresStore({ pool: postgres.pool(), sessionId: 's', tablePrefix: uniqueTablePrefix(), operationTimeoutMs: BOUND_MS, listen: false });
    const { error, ms } = await failure(() => store.get());
    expect(isAuthchartError(error, 'STORE_UNAVAILABLE')).toBe(true);
    expect(String((error as Error).message)).toContain('ensurePostgresSchema');
    expect(ms).toBeLessThan(BOUND_MS); // an answer, not a wait
  });

  describe('a host that accepts connections and never answers', () => {
    const sockets = new Set<Socket>();
    let silent: Server;
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => silent?.close(r));
    });

    it('every call fails within the bound', async () => {
      silent = createServer((socket) => sockets.add(socket));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      const { port } = silent.address() as { port: number };
      const pool = new pg.Pool({ connectionString: `postgres://authchart@127.0.0.1:${port}/postgres`, max: 2 });
      pool.on('error', () => undefined);
      const store = postgresStore({ pool, sessionId: 's', tablePrefix, operationTimeoutMs: BOUND_MS, listen: false });
      expectUnavailable(await failure(() => store.get()));
      expectUnavailable(
        await failure(() => postgresLock({ pool, sessionId: 's', tablePrefix, operationTimeoutMs: BOUND_MS }).acquire({ signal: never(), timeoutMs: 5000 })),
      );
      for (const socket of sockets) socket.destroy();
      void pool.end().catch(() => undefined);
    });
  });
});
