/**
 * `npm run bench:scale`: many sessions, 4 server processes sharing one store, a wave of
 * expiries. Not part of `npm test` (minutes and gigabytes); bounded in time.
 *
 *   npm run bench:scale                              100,000 sessions on Redis, then PostgreSQL
 *   npm run bench:scale -- --sessions 20000          fewer
 *   npm run bench:scale -- --store redis|postgres    one store only
 *   npm run bench:scale -- --budget-minutes 30       a longer bound per store
 *
 * Each session is held by 2 of the 4 processes (so every expiry is raced across processes
 * as well as inside one). Phases: sign in (tokens written to the store, valid for an hour),
 * load (each process asks for each of its sessions once), valid (again: the valid-token
 * path), wave (the sessions' clock jumps two hours: every token has expired, each process
 * asks for each of its sessions once). Figures: token calls per session per expiry (from the
 * token server: refresh grants / sessions; strict reuse detection, so a second refresh with
 * one refresh token would show), p50/p99 of the requests, store commands per request
 * (counted by a wrapped client in each process), heap per process after GC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startTestServers } from '../adapters/testing/node-server.js';
import { createTokenServer } from '../adapters/testing/token-server.js';
import type { TokenStore } from '../adapters/core/ports.js';
import type { ScalePhaseResult, ScaleWorkerConfig, ToScaleWorker } from './scale-worker.js';

const PROCESSES = 4;
const WAVE_OFFSET_MS = 65 * 60_000;
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
};
const SESSIONS = Number(arg('sessions') ?? 100_000);
const STORES = (arg('store') ? [arg('store')] : ['redis', 'postgres']) as ('redis' | 'postgres')[];
/**
 * Per store; past it the run stops and says how far it got. 4 minutes, plus 12 ms per session
 * past 20,000 (a 2-core machine signs in, loads and refreshes about 300 sessions a second
 * across the 4 processes): 100,000 sessions get 20 minutes. `--budget-minutes` overrides it.
 */
const BUDGET_MS = arg('budget-minutes') ? Number(arg('budget-minutes')) * 60_000 : 4 * 60_000 + Math.max(0, SESSIONS - 20_000) * 12;
const BUDGET_MINUTES = Math.round(BUDGET_MS / 60_000);
const started = performance.now();
const say = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

export interface ScalePhase {
  name: string;
  requests: number;
  ok: number;
  failed: number;
  errors: Record<string, number>;
  p50: number;
  p99: number;
  commandsPerRequest: number;
  durationMs: number;
}

export interface ScaleResult {
  store: string;
  sessions: number;
  processes: number;
  phases: ScalePhase[];
  refreshCalls: number;
  reuseDetected: number;
  heapPerProcessMb: number[];
  heldPerProcess: number[];
  signInMs: number;
  note?: string;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Worker {
  child: ChildProcess;
  run(message: ToScaleWorker): Promise<ScalePhaseResult>;
  stop(): Promise<void>;
}

async function startWorker(config: ScaleWorkerConfig): Promise<Worker> {
  const child = fork(fileURLToPath(new URL('./scale-worker.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx', '--expose-gc', '--max-old-space-size=6144'],
    env: { ...process.env, AUTHCHART_SCALE_WORKER: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker did not start within 90 s')), 90_000);
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready`)));
    child.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    child,
    run: (message) =>
      new Promise((resolve, reject) => {
        const onExit = (code: number | null, signal: string | null) => reject(new Error(`worker exited (${code ?? signal}) during a phase`));
        child.once('exit', onExit);
        child.once('message', (result: ScalePhaseResult) => {
          child.off('exit', onExit);
          resolve(result);
        });
        child.send(message);
      }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'exit' } satisfies ToScaleWorker);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** What a store needs here: a token store per session id (to sign sessions in) and its teardown. */
interface Backend {
  driver: ScaleWorkerConfig['driver'];
  store(sessionId: string): TokenStore;
  close(): Promise<void>;
}

async function redisBackend(): Promise<Backend> {
  const { startRedisServer } = await import('../tests/support/redis-server.js');
  const { createClient } = await import('redis');
  const { redisStore } = await import('../adapters/redis/index.js');
  const server = await startRedisServer();
  const client = createClient({ url: server.url });
  client.on('error', () => undefined);
  await client.connect();
  const subscriber = client.duplicate();
  subscriber.on('error', () => undefined);
  await subscriber.connect();
  return {
    driver: { type: 'redis', url: server.url, prefix: 'scale:' },
    store: (sessionId) => redisStore({ client, subscriber, prefix: 'scale:', sessionId, operationTimeoutMs: 30_000 }),
    async close() {
      client.destroy();
      subscriber.destroy();
      await server.stop();
    },
  };
}

async function postgresBackend(): Promise<Backend> {
  const { startPostgresServer, stopPostgresServer } = await import('../tests/support/postgres-server.js');
  const { default: pg } = await import('pg');
  const { ensurePostgresSchema, postgresStore } = await import('../adapters/postgres/index.js');
  const info = await startPostgresServer();
  const pool = new pg.Pool({ connectionString: info.connectionString, max: 10 });
  pool.on('error', () => undefined);
  await ensurePostgresSchema(pool, { tablePrefix: 'scale_' });
  return {
    driver: { type: 'postgres', connectionString: info.connectionString, tablePrefix: 'scale_' },
    store: (sessionId) => postgresStore({ pool, tablePrefix: 'scale_', sessionId, operationTimeoutMs: 30_000 }),
    async close() {
      await pool.end();
      stopPostgresServer(info);
    },
  };
}

async function runStore(kind: 'redis' | 'postgres'): Promise<ScaleResult> {
  const storeStarted = performance.now();
  const overBudget = () => performance.now() - storeStarted > BUDGET_MS;
  // Tokens the token server issues live 2 h; the ones signed in are stored as expiring in 1 h,
  // and the wave moves the sessions' clock 1 h 5 min ahead: the signed-in tokens have all
  // expired, the refreshed ones (2 h from the real clock, as the refresher computes them) have not.
  const tokenServer = createTokenServer({ accessTokenTtlSeconds: 7_200 });
  const servers = await startTestServers(tokenServer);
  const backend = kind === 'redis' ? await redisBackend() : await postgresBackend();
  const workers: Worker[] = [];
  const result: ScaleResult = {
    store: kind === 'redis' ? 'one Redis' : 'one PostgreSQL',
    sessions: 0,
    processes: PROCESSES,
    phases: [],
    refreshCalls: 0,
    reuseDetected: 0,
    heapPerProcessMb: [],
    heldPerProcess: [],
    signInMs: 0,
  };
  try {
    const config: ScaleWorkerConfig = { driver: backend.driver, tokenEndpoint: servers.tokenEndpoint, maxSessions: SESSIONS, concurrency: 500 };
    workers.push(...(await Promise.all(Array.from({ length: PROCESSES }, () => startWorker(config)))));
    say(`${kind}: ${PROCESSES} processes up; signing ${SESSIONS.toLocaleString('en-US')} sessions in`);

    // Sign in, in batches; stop early (and say so) past half the budget.
    const ids: string[] = [];
    const signInStarted = performance.now();
    const BATCH = 1_000;
    for (let first = 0; first < SESSIONS; first += BATCH) {
      if (performance.now() - storeStarted > BUDGET_MS / 2) {
        result.note = `signing in stopped at ${ids.length.toLocaleString('en-US')} sessions: half of the ${BUDGET_MINUTES}-minute budget spent`;
        break;
      }
      const batch = Array.from({ length: Math.min(BATCH, SESSIONS - first) }, (_, i) => `s${first + i}`);
      await Promise.all(
        batch.map((id) => {
          const login = tokenServer.login();
          return backend.store(id).set({ accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + 3_600_000 });
        }),
      );
      ids.push(...batch);
    }
    result.sessions = ids.length;
    result.signInMs = performance.now() - signInStarted;
    say(`${kind}: ${ids.length.toLocaleString('en-US')} sessions signed in in ${(result.signInMs / 1000).toFixed(1)} s`);

    // Session k is held by processes k mod 4 and (k + 1) mod 4.
    const shares = workers.map((_, w) => ids.filter((_, k) => k % PROCESSES === w || (k + 1) % PROCESSES === w));
    const phase = async (name: string, clockOffsetMs: number) => {
      const results = await Promise.all(workers.map((worker, w) => worker.run({ type: 'requests', sessions: shares[w]!, clockOffsetMs })));
      const latency = results.flatMap((r) => r.latencyMs).sort((a, b) => a - b);
      const requests = results.reduce((n, r) => n + r.ok + r.failed, 0);
      const errors: Record<string, number> = {};
      for (const r of results) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
      const entry: ScalePhase = {
        name,
        requests,
        ok: results.reduce((n, r) => n + r.ok, 0),
        failed: results.reduce((n, r) => n + r.failed, 0),
        errors,
        p50: percentile(latency, 50),
        p99: percentile(latency, 99),
        commandsPerRequest: results.reduce((n, r) => n + r.commands, 0) / Math.max(1, requests),
        durationMs: Math.max(...results.map((r) => r.durationMs)),
      };
      result.phases.push(entry);
      result.heapPerProcessMb = results.map((r) => r.heapUsed / 1024 ** 2);
      result.heldPerProcess = results.map((r) => r.held);
      say(
        `${kind} ${name}: ${entry.ok}/${entry.requests} ok in ${(entry.durationMs / 1000).toFixed(1)} s, p50 ${entry.p50.toFixed(1)} ms, p99 ${entry.p99.toFixed(1)} ms, ${entry.commandsPerRequest.toFixed(3)} commands/request, heap ${result.heapPerProcessMb.map((h) => h.toFixed(0)).join('/')} MB${entry.failed ? `, failures ${JSON.stringify(errors)}` : ''}`,
      );
    };
    await phase('load', 0);
    if (!overBudget()) await phase('valid token', 0);
    const callsBefore = tokenServer.stats.refreshCalls;
    if (!overBudget()) {
      await phase('wave of expiries', WAVE_OFFSET_MS);
      result.refreshCalls = tokenServer.stats.refreshCalls - callsBefore;
      result.reuseDetected = tokenServer.stats.reuseDetected;
      say(
        `${kind}: ${result.refreshCalls} refresh grants for ${ids.length} sessions (${(result.refreshCalls / ids.length).toFixed(3)} per session), reuse detected ${result.reuseDetected}`,
      );
    } else {
      result.note = `${result.note ? `${result.note}; ` : ''}the wave did not run: the ${BUDGET_MINUTES}-minute budget was spent`;
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.stop().catch(() => worker.child.kill('SIGKILL'))));
    await backend.close();
    await servers.close();
  }
  return result;
}

async function main() {
  const results: ScaleResult[] = [];
  for (const kind of STORES) results.push(await runStore(kind));
  const { writeScaleSection } = await import('./scale-report.js');
  const target = fileURLToPath(new URL('./RESULTS.md', import.meta.url));
  writeScaleSection(target, results, {
    date: new Date().toISOString(),
    command: `npm run bench:scale${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  });
  say(`wrote the scale section of ${target}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
