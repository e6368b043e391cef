/**
 * Cost per unit, against the peers in the same process: heap per idle session (and what of it
 * the statechart's actor is), and store round trips per request on the valid-token path with
 * a real redis-server and a real PostgreSQL (each command counted by a wrapped client).
 * Heap figures need `--expose-gc` (bench/run.ts runs this bundled, in a child process).
 */
import { createActor } from 'xstate';
import { refreshMachine } from '../machines/refresh.machine.js';
import { createSession } from '../adapters/core/session.js';
import { createAuthFetch } from '../adapters/fetch/index.js';
import { naiveFetch } from './peers/naive.js';
import { sharedPromiseFetch } from './peers/shared-promise.js';
import { ACCESS_TOKEN, MemoryStorage, REFRESH_TOKEN } from './peers/storage.js';

const TOKEN_ENDPOINT = 'https://auth.example.test/oauth/token';
const ORIGIN = 'https://api.example.test';
const okFetch = (async () => new Response(null, { status: 200 })) as unknown as typeof fetch;

export interface IdleRow {
  name: string;
  /** What one unit is. */
  what: string;
  count: number;
  bytesPerUnit: number | null;
}

export interface RoundTripRow {
  store: string;
  /** Requests on the valid-token path after the session was loaded. */
  requests: number;
  /** Commands (Redis) or statements (PostgreSQL) those requests sent. */
  commands: number;
  /** Commands of the first request of the session in this process (its load). */
  firstRequestCommands: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
function heap(): number | null {
  if (!gc) return null;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const peerStorage = () => {
  const storage = new MemoryStorage();
  storage.setItem(ACCESS_TOKEN, 'valid');
  storage.setItem(REFRESH_TOKEN, 'r1');
  return storage;
};

const validTokens = () => ({ accessToken: 'valid', refreshToken: 'r1', expiresAt: Date.now() + 3_600_000 });

interface IdleSubject {
  name: string;
  what: string;
  /** Make one unit; returns what keeps it alive and how to end it. */
  make(): { keep: unknown; dispose?: () => unknown };
}

const idleSubjects: IdleSubject[] = [
  {
    name: 'authchart createSession',
    what: 'a session with valid tokens in its memory store, nothing under way',
    make() {
      const session = createSession({ refresh: async () => ({ accessToken: 'unused' }), tokens: validTokens(), wakeEvents: false });
      return { keep: session, dispose: () => session.dispose() };
    },
  },
  {
    name: 'authchart createAuthFetch',
    what: 'the same with its fetch front end',
    make() {
      const authFetch = createAuthFetch({
        refresh: async () => ({ accessToken: 'unused' }),
        allowedOrigins: [ORIGIN],
        fetch: okFetch,
        tokens: validTokens(),
        wakeEvents: false,
      });
      return { keep: authFetch, dispose: () => authFetch.dispose() };
    },
  },
  {
    name: 'authchart createSession, used once',
    what: 'the same after one getAccessToken(): its statechart actor made, the proactive refresh armed',
    make() {
      const session = createSession({ refresh: async () => ({ accessToken: 'unused' }), tokens: validTokens(), wakeEvents: false });
      void session.getAccessToken();
      return { keep: session, dispose: () => session.dispose() };
    },
  },
  {
    name: 'the statechart actor alone',
    what: 'createActor(refreshMachine).start(), no adapters (an idle session makes none until it is used)',
    make() {
      const actor = createActor(refreshMachine, { input: {} }).start();
      return { keep: actor, dispose: () => actor.stop() };
    },
  },
  {
    name: 'shared refreshPromise',
    what: 'its fetch wrapper and a storage holding two tokens',
    make() {
      const request = sharedPromiseFetch({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'bench', storage: peerStorage(), fetch: okFetch });
      return { keep: request };
    },
  },
  {
    name: 'naive (each 401 refreshes)',
    what: 'its fetch wrapper and a storage holding two tokens',
    make() {
      const request = naiveFetch({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'bench', storage: peerStorage(), fetch: okFetch });
      return { keep: request };
    },
  },
];

/** Heap per idle unit: `count` units alive at once, after GC, minus the heap before. */
export async function idleSessions(options: { count: number; runs: number }): Promise<IdleRow[]> {
  const samples = new Map<string, number[]>();
  for (let run = 0; run < options.runs; run++) {
    for (const subject of idleSubjects) {
      // A round of units made and ended first, so code, inline caches and shared constants
      // are not counted, and the previous subject's garbage is gone.
      const warm = Array.from({ length: Math.min(200, options.count) }, () => subject.make());
      await new Promise((r) => setTimeout(r, 50));
      for (const unit of warm) await unit.dispose?.();
      await new Promise((r) => setTimeout(r, 50));
      const before = heap();
      const units = Array.from({ length: options.count }, () => subject.make());
      // Let whatever a session starts (its initial load) settle.
      await new Promise((r) => setTimeout(r, 50));
      const after = heap();
      if (before !== null && after !== null) samples.set(subject.name, [...(samples.get(subject.name) ?? []), (after - before) / options.count]);
      for (const unit of units) await unit.dispose?.();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return idleSubjects.map((subject) => {
    const values = samples.get(subject.name) ?? [];
    return { name: subject.name, what: subject.what, count: options.count, bytesPerUnit: values.length ? median(values) : null };
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

/**
 * Round trips on the valid-token path through the session managers of authchart/redis and
 * authchart/postgres: the session signed in, one request (it loads the session), then
 * `requests` more; every command the manager's client sends is counted.
 */
export async function roundTrips(options: { requests: number; postgres: boolean; progress?: (line: string) => void }): Promise<RoundTripRow[]> {
  const rows: RoundTripRow[] = [];
  const refresh = async () => ({ accessToken: 'unused' });
  const { startRedisServer } = await import('../tests/support/redis-server.js');
  const { createClient } = await import('redis');
  const { redisSessionManager } = await import('../adapters/redis/index.js');
  const redis = await startRedisServer();
  try {
    const client = createClient({ url: redis.url });
    client.on('error', () => undefined);
    await client.connect();
    const subscriber = client.duplicate();
    subscriber.on('error', () => undefined);
    await subscriber.connect();
    let commands = 0;
    const counted = {
      sendCommand: (...args: unknown[]) => {
        commands++;
        return (client.sendCommand as (...a: unknown[]) => Promise<unknown>)(...args);
      },
    };
    const manager = redisSessionManager({ client: counted, subscriber, refresh, prefix: 'bench:' });
    rows.push(await measureManager('Redis (node-redis)', manager, options.requests, () => commands));
    await manager.dispose();
    client.destroy();
    subscriber.destroy();
  } finally {
    await redis.stop();
  }
  options.progress?.('round trips: Redis done');
  if (!options.postgres) return rows;
  const { startPostgresServer, stopPostgresServer } = await import('../tests/support/postgres-server.js');
  const { default: pg } = await import('pg');
  const { postgresSessionManager, ensurePostgresSchema } = await import('../adapters/postgres/index.js');
  const info = await startPostgresServer();
  try {
    const pool = new pg.Pool({ connectionString: info.connectionString, max: 4 });
    pool.on('error', () => undefined);
    await ensurePostgresSchema(pool);
    let statements = 0;
    const counted = {
      query: (text: string, values?: unknown[]) => {
        statements++;
        return pool.query(text, values);
      },
      connect: () => pool.connect(),
    };
    const manager = postgresSessionManager({ pool: counted as never, refresh });
    rows.push(await measureManager('PostgreSQL (pg)', manager, options.requests, () => statements));
    await manager.dispose();
    await pool.end();
  } finally {
    stopPostgresServer(info);
  }
  options.progress?.('round trips: PostgreSQL done');
  return rows;
}

async function measureManager(
  store: string,
  manager: { login(id: string, tokens: ReturnType<typeof validTokens>): Promise<void>; getValidAccessToken(id: string): Promise<string> },
  requests: number,
  count: () => number,
): Promise<RoundTripRow> {
  // Signed in by another instance: this process has never seen the session.
  await manager.login('bench-session', validTokens());
  const beforeFirst = count();
  await manager.getValidAccessToken('bench-session');
  const afterFirst = count();
  for (let i = 0; i < requests; i++) {
    const token = await manager.getValidAccessToken('bench-session');
    if (token !== 'valid') throw new Error(`${store}: unexpected token`);
  }
  return { store, requests, commands: count() - afterFirst, firstRequestCommands: afterFirst - beforeFirst };
}
