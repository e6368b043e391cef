/**
 * One server instance, as a real child process (`node --import tsx instance-worker.ts`): a
 * session manager on a shared store and lock (Redis, a Redis Cluster or PostgreSQL), serving
 * requests against the rotating token server's protected API. The parent sends `run`
 * messages over IPC and gets figures back.
 */
import { performance } from 'node:perf_hooks';
import type { RefreshLock, TokenStore } from '../../adapters/core/ports.js';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createSessionManager } from '../../adapters/server/session-manager.js';
import type { ClientKind } from '../redis/support/clients.js';

/** Where the instance keeps its sessions. */
export type DriverConfig =
  | { type: 'redis'; kind: ClientKind; url: string; prefix: string }
  | { type: 'redis-cluster'; kind: ClientKind; nodes: { port: number }[]; prefix: string }
  | { type: 'postgres'; connectionString: string; tablePrefix: string };

export interface WorkerConfig {
  driver: DriverConfig;
  tokenEndpoint: string;
  api: string;
  apiOrigin: string;
  lockTtlMs: number;
  maxWaitMs: number;
}

export type ToWorker = { type: 'run'; sessions: string[]; perSession: number } | { type: 'exit' };
export type FromWorker =
  | { type: 'ready'; pid: number }
  | { type: 'result'; ok: number; failed: number; errors: string[]; requestMs: number[]; lockWaitMs: number[]; refreshFailures: string[] };

interface Drivers {
  store(sessionId: string): TokenStore;
  lock(sessionId: string): RefreshLock;
  close(): Promise<void>;
}

async function drivers(config: WorkerConfig): Promise<Drivers> {
  const { driver, lockTtlMs } = config;
  if (driver.type === 'postgres') {
    const { default: pg } = await import('pg');
    const { postgresLock, postgresStore } = await import('../../adapters/postgres/index.js');
    // pg's default pool size; statements bounded with room for a busy machine.
    const pool = new pg.Pool({ connectionString: driver.connectionString, max: 10 });
    pool.on('error', () => undefined);
    const connection = { pool, tablePrefix: driver.tablePrefix, operationTimeoutMs: 5000 };
    return {
      store: (sessionId) => postgresStore({ ...connection, sessionId }),
      lock: (sessionId) => postgresLock({ ...connection, sessionId, ttlMs: lockTtlMs }),
      close: () => pool.end(),
    };
  }
  const { redisLock, redisStore } = await import('../../adapters/redis/index.js');
  const { client, subscriber, close } =
    driver.type === 'redis'
      ? await (await import('../redis/support/clients.js')).connect(driver.kind, driver.url)
      : await (await import('../redis-cluster/support/clients.js')).connectCluster(driver.kind, driver);
  // Statements bounded with room for a busy machine (the default is 2 s).
  const connection = { client, subscriber, prefix: driver.prefix, operationTimeoutMs: 5000 };
  return {
    store: (sessionId) => redisStore({ ...connection, sessionId }),
    lock: (sessionId) => redisLock({ ...connection, sessionId, ttlMs: lockTtlMs }),
    close,
  };
}

const config = JSON.parse(process.env.AUTHCHART_WORKER ?? '{}') as WorkerConfig;
const send = (message: FromWorker) => process.send!(message);

const shared = await drivers(config);
let lockWaits: number[] = [];
// Refreshes that failed and were retried (a store that did not answer in time, …): requests
// may still all succeed, but the figures say what was absorbed.
let refreshFailures: string[] = [];
const timed = (lock: RefreshLock): RefreshLock => ({
  async acquire(options) {
    const started = performance.now();
    try {
      return await lock.acquire(options);
    } finally {
      lockWaits.push(performance.now() - started);
    }
  },
});
const manager = createSessionManager({
  refresh: oauthRefresher({ tokenEndpoint: config.tokenEndpoint, clientId: 'authchart-tests' }),
  store: (sessionId) => shared.store(sessionId),
  lock: (sessionId) => timed(shared.lock(sessionId)),
  session: {
    maxWaitMs: config.maxWaitMs,
    lockTimeoutMs: config.maxWaitMs,
    backoffBaseMs: 200,
    logger: (entry) => {
      if (entry.type === 'refresh.failed') refreshFailures.push(entry.reason);
    },
  },
});

async function request(sessionId: string, n: number): Promise<{ ok: boolean; error?: string; ms: number }> {
  const started = performance.now();
  try {
    const response = await manager.withSession(sessionId, (session) =>
      createAuthFetch({ session, allowedOrigins: [config.apiOrigin] })(`${config.api}/items/${n}`),
    );
    await response.body?.cancel();
    return { ok: response.status === 200, error: response.status === 200 ? undefined : `HTTP_${response.status}`, ms: performance.now() - started };
  } catch (error) {
    // The code and the message (which never holds a token), so a failure says which operation.
    const { code, message } = error as { code?: string; message?: string };
    return { ok: false, error: `${code ?? 'ERROR'}: ${message ?? String(error)}`, ms: performance.now() - started };
  }
}

process.on('message', async (message: ToWorker) => {
  if (message.type === 'exit') {
    await manager.dispose();
    await shared.close().catch(() => undefined);
    process.exit(0);
  }
  if (message.type === 'run') {
    lockWaits = [];
    refreshFailures = [];
    const all = await Promise.all(message.sessions.flatMap((sessionId) => Array.from({ length: message.perSession }, (_, n) => request(sessionId, n))));
    send({
      type: 'result',
      ok: all.filter((r) => r.ok).length,
      failed: all.filter((r) => !r.ok).length,
      errors: all.flatMap((r) => (r.error ? [r.error] : [])),
      requestMs: all.map((r) => r.ms),
      lockWaitMs: lockWaits,
      refreshFailures,
    });
  }
});
send({ type: 'ready', pid: process.pid });
