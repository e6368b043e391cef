/**
 * One server instance, as a real child process (`node --import tsx worker.ts`): a session
 * manager on the Redis store and lock, serving requests against the rotating token server's
 * protected API. The parent sends `run` messages over IPC and gets figures back.
 */
import { performance } from 'node:perf_hooks';
import type { RefreshLock } from '../../../adapters/core/ports.js';
import { createAuthFetch } from '../../../adapters/fetch/index.js';
import { oauthRefresher } from '../../../adapters/oauth/index.js';
import { redisLock, redisStore } from '../../../adapters/redis/index.js';
import { createSessionManager } from '../../../adapters/server/session-manager.js';
import { connect, type ClientKind } from './clients.js';

export interface WorkerConfig {
  kind: ClientKind;
  redisUrl: string;
  prefix: string;
  tokenEndpoint: string;
  api: string;
  apiOrigin: string;
  lockTtlMs: number;
  maxWaitMs: number;
}

export type ToWorker = { type: 'run'; sessions: string[]; perSession: number } | { type: 'exit' };
export type FromWorker =
  | { type: 'ready'; pid: number }
  | { type: 'result'; ok: number; failed: number; errors: string[]; requestMs: number[]; lockWaitMs: number[] };

const config = JSON.parse(process.env.AUTHCHART_WORKER ?? '{}') as WorkerConfig;
const send = (message: FromWorker) => process.send!(message);

const { client, subscriber } = await connect(config.kind, config.redisUrl);
let lockWaits: number[] = [];
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
const connection = { client, subscriber, prefix: config.prefix };
const manager = createSessionManager({
  refresh: oauthRefresher({ tokenEndpoint: config.tokenEndpoint, clientId: 'authchart-tests' }),
  store: (sessionId) => redisStore({ ...connection, sessionId }),
  lock: (sessionId) => timed(redisLock({ ...connection, sessionId, ttlMs: config.lockTtlMs })),
  session: { maxWaitMs: config.maxWaitMs, lockTimeoutMs: config.maxWaitMs, backoffBaseMs: 200 },
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
    return { ok: false, error: (error as { code?: string }).code ?? String(error), ms: performance.now() - started };
  }
}

process.on('message', async (message: ToWorker) => {
  if (message.type === 'exit') {
    await manager.dispose();
    process.exit(0);
  }
  if (message.type === 'run') {
    lockWaits = [];
    const all = await Promise.all(message.sessions.flatMap((sessionId) => Array.from({ length: message.perSession }, (_, n) => request(sessionId, n))));
    send({
      type: 'result',
      ok: all.filter((r) => r.ok).length,
      failed: all.filter((r) => !r.ok).length,
      errors: all.flatMap((r) => (r.error ? [r.error] : [])),
      requestMs: all.map((r) => r.ms),
      lockWaitMs: lockWaits,
    });
  }
});
send({ type: 'ready', pid: process.pid });
