/** Real PostgreSQL connections for the suites: pools on the server of this run, closed after the file. */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { ensurePostgresSchema } from '../../../adapters/postgres/index.js';
import type { PostgresInfo } from '../../support/postgres-server.js';

/** A table prefix per file (or test), so files share one server without seeing each other. */
export const uniqueTablePrefix = () => `t${randomUUID().slice(0, 8)}_`;

/**
 * The server of this run, a table prefix for this file (its tables created once), and pools
 * closed after the file. Each pool is one "instance".
 */
export function usePostgres() {
  const pools: pg.Pool[] = [];
  const tablePrefix = uniqueTablePrefix();
  const state = { info: null as PostgresInfo | null };
  beforeAll(async () => {
    state.info = inject('postgres');
    const pool = new pg.Pool({ connectionString: state.info.connectionString, max: 2 });
    await ensurePostgresSchema(pool, { tablePrefix });
    await pool.end();
  });
  afterAll(async () => {
    // A pool with a client still out (a failed test that never unsubscribed) would never end.
    const ended = (pool: pg.Pool) => Promise.race([pool.end().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    await Promise.all(pools.map(ended));
  });
  return {
    tablePrefix,
    get info(): PostgresInfo {
      return state.info ?? inject('postgres');
    },
    pool(options: pg.PoolConfig = {}): pg.Pool {
      const pool = new pg.Pool({ connectionString: this.info.connectionString, max: 5, ...options });
      // An idle client that loses its connection (a test stops the server) must not crash the run.
      pool.on('error', () => undefined);
      pools.push(pool);
      return pool;
    },
  };
}
