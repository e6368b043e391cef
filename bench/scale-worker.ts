/**
 * One server instance of the scale bench (bench/scale.ts), as a child process: a session
 * manager of authchart/redis or authchart/postgres holding its share of the sessions, every
 * command it sends counted. The parent sends phases over IPC and gets figures back.
 *
 * The wave of expiries: the sessions' clock (`now`) jumps past every token's expiry at once,
 * as when a fleet's tokens issued together all run out together.
 */
import { performance } from 'node:perf_hooks';
import { oauthRefresher } from '../adapters/oauth/index.js';
import type { SessionManager } from '../adapters/server/session-manager.js';

export interface ScaleWorkerConfig {
  driver: { type: 'redis'; url: string; prefix: string } | { type: 'postgres'; connectionString: string; tablePrefix: string };
  tokenEndpoint: string;
  maxSessions: number;
  /** Requests in flight at once in this process. */
  concurrency: number;
}

export type ToScaleWorker = { type: 'requests'; sessions: string[]; clockOffsetMs: number } | { type: 'exit' };
export interface ScalePhaseResult {
  type: 'result';
  ok: number;
  failed: number;
  /** Error codes of the failures, counted. */
  errors: Record<string, number>;
  latencyMs: number[];
  /** Commands (Redis) or statements (PostgreSQL) sent during the phase. */
  commands: number;
  heapUsed: number;
  held: number;
  durationMs: number;
}

const config = JSON.parse(process.env.AUTHCHART_SCALE_WORKER ?? '{}') as ScaleWorkerConfig;
let commands = 0;
let clockOffsetMs = 0;
const now = () => Date.now() + clockOffsetMs;

async function start(): Promise<{ manager: SessionManager; close(): Promise<void> }> {
  const refresh = oauthRefresher({ tokenEndpoint: config.tokenEndpoint, clientId: 'authchart-bench' });
  const common = {
    refresh,
    maxSessions: config.maxSessions,
    idleTimeoutMs: 30 * 60_000,
    // Room for a saturated 2-core machine: every bound far above a quiet machine's need.
    session: { now, maxWaitMs: 120_000, lockTimeoutMs: 120_000, refreshTimeoutMs: 60_000, storeTimeoutMs: 30_000, wakeEvents: false },
    lock: { ttlMs: 60_000 },
  };
  if (config.driver.type === 'redis') {
    const { createClient } = await import('redis');
    const { redisSessionManager } = await import('../adapters/redis/index.js');
    const client = createClient({ url: config.driver.url });
    client.on('error', () => undefined);
    await client.connect();
    const subscriber = client.duplicate();
    subscriber.on('error', () => undefined);
    await subscriber.connect();
    const counted = {
      sendCommand: (...args: unknown[]) => {
        commands++;
        return (client.sendCommand as (...a: unknown[]) => Promise<unknown>)(...args);
      },
    };
    const manager = redisSessionManager({ ...common, client: counted, subscriber, prefix: config.driver.prefix, operationTimeoutMs: 30_000 });
    return {
      manager,
      close: async () => {
        client.destroy();
        subscriber.destroy();
      },
    };
  }
  const { default: pg } = await import('pg');
  const { postgresSessionManager } = await import('../adapters/postgres/index.js');
  const pool = new pg.Pool({ connectionString: config.driver.connectionString, max: 10 });
  pool.on('error', () => undefined);
  const counted = {
    query: (text: string, values?: unknown[]) => {
      commands++;
      return pool.query(text, values);
    },
    connect: () => pool.connect(),
  };
  const manager = postgresSessionManager({ ...common, pool: counted as never, tablePrefix: config.driver.tablePrefix, operationTimeoutMs: 30_000 });
  return { manager, close: () => pool.end() };
}

const { manager, close } = await start();
const gc = (globalThis as { gc?: () => void }).gc;

async function phase(sessions: string[]): Promise<ScalePhaseResult> {
  const started = performance.now();
  const before = commands;
  const latencyMs: number[] = [];
  const errors: Record<string, number> = {};
  let ok = 0;
  let next = 0;
  const one = async () => {
    while (next < sessions.length) {
      const sessionId = sessions[next++]!;
      const t0 = performance.now();
      try {
        await manager.getValidAccessToken(sessionId);
        ok++;
        latencyMs.push(performance.now() - t0);
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'ERROR';
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, one));
  const durationMs = performance.now() - started;
  const sent = commands - before;
  gc?.();
  return {
    type: 'result',
    ok,
    failed: sessions.length - ok,
    errors,
    latencyMs,
    commands: sent,
    heapUsed: process.memoryUsage().heapUsed,
    held: manager.size,
    durationMs,
  };
}

process.on('message', async (message: ToScaleWorker) => {
  if (message.type === 'exit') {
    await manager.dispose();
    await close().catch(() => undefined);
    process.exit(0);
  }
  clockOffsetMs = message.clockOffsetMs;
  process.send!(await phase(message.sessions));
});
process.send!({ type: 'ready' });
