/**
 * Micro-benchmarks, without a network: every transport is a stub (a fetch that is an
 * async function returning a constant Response; an axios adapter that resolves at once).
 *
 * - hot path: added work per request when the token is valid, against the bare stub (fetch)
 *   and against plain axios (axios front ends). Each sample is a batch of sequential
 *   requests, so the timer's own cost is spread over the batch.
 * - release: 10,000 requests wait for one refresh; time from the refresh answering to the
 *   last of them resolving, and heap per waiting request (needs `--expose-gc`).
 */
import axios, { AxiosError, type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import { performance } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { Bench } from 'tinybench';
import { attachAuth } from '../adapters/axios/index.js';
import { createAuthFetch } from '../adapters/fetch/index.js';
import { attachAxiosAuthRefresh } from './peers/axios-auth-refresh.js';
import { attachFailedQueue } from './peers/failed-queue.js';
import { naiveFetch } from './peers/naive.js';
import { sharedPromiseFetch } from './peers/shared-promise.js';
import { ACCESS_TOKEN, MemoryStorage, REFRESH_TOKEN } from './peers/storage.js';

const API = 'https://api.example.test/items/1';
const TOKEN_ENDPOINT = 'https://auth.example.test/oauth/token';
const ORIGIN = 'https://api.example.test';
const BATCH = 1_000;

export interface HotPathRow {
  name: string;
  /** ns per request, median of the batches. */
  nsPerRequest: number;
  /** ns per request above the baseline of its front end. */
  addedNs: number;
  baseline: string;
}

function peerStorage(access = 'valid'): Storage {
  const storage = new MemoryStorage();
  storage.setItem(ACCESS_TOKEN, access);
  storage.setItem(REFRESH_TOKEN, 'r1');
  return storage;
}

const OK = new Response(null, { status: 200 });
const okFetch = (async () => OK) as unknown as typeof fetch;

function okAdapter(): AxiosAdapter {
  return async (config) => ({ data: null, status: 200, statusText: 'OK', headers: {}, config, request: {} });
}

/** Added work per request on the valid-token path. */
export async function hotPath(options: { timeMs: number }): Promise<HotPathRow[]> {
  const authFetch = createAuthFetch({
    refresh: async () => ({ accessToken: 'unused' }),
    allowedOrigins: [ORIGIN],
    fetch: okFetch,
    tokens: { accessToken: 'valid', refreshToken: 'r1', expiresAt: Date.now() + 3_600_000 },
  });
  const naive = naiveFetch({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'bench', storage: peerStorage(), fetch: okFetch });
  const shared = sharedPromiseFetch({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'bench', storage: peerStorage(), fetch: okFetch });

  const plain = axios.create({ adapter: okAdapter() });
  const withAuthchart = axios.create({ adapter: okAdapter() });
  const auth = attachAuth(withAuthchart, {
    refresh: async () => ({ accessToken: 'unused' }),
    allowedOrigins: [ORIGIN],
    tokens: { accessToken: 'valid', refreshToken: 'r1', expiresAt: Date.now() + 3_600_000 },
  });
  const refreshClient = axios.create({ adapter: okAdapter() });
  const withFailedQueue = axios.create({ adapter: okAdapter() });
  attachFailedQueue(withFailedQueue, { tokenEndpoint: TOKEN_ENDPOINT, clientId: 'bench', storage: peerStorage(), refreshClient });
  const withAxiosAuthRefresh = axios.create({ adapter: okAdapter() });
  attachAxiosAuthRefresh(withAxiosAuthRefresh, { tokenEndpoint: TOKEN_ENDPOINT, clientId: 'bench', storage: peerStorage(), refreshClient });

  const batch = (one: () => Promise<unknown>) => async () => {
    for (let i = 0; i < BATCH; i++) await one();
  };
  const tasks: [string, string, () => Promise<void>][] = [
    ['bare fetch (stub)', '', batch(() => okFetch(API))],
    ['authchart (fetch)', 'bare fetch (stub)', batch(() => authFetch(API))],
    ['naive (fetch)', 'bare fetch (stub)', batch(() => naive(API))],
    ['shared refreshPromise (fetch)', 'bare fetch (stub)', batch(() => shared(API))],
    ['plain axios (stub adapter)', '', batch(() => plain.get(API))],
    ['authchart (axios)', 'plain axios (stub adapter)', batch(() => withAuthchart.get(API))],
    ['axios isRefreshing + failedQueue', 'plain axios (stub adapter)', batch(() => withFailedQueue.get(API))],
    ['axios-auth-refresh', 'plain axios (stub adapter)', batch(() => withAxiosAuthRefresh.get(API))],
  ];
  const bench = new Bench({ time: options.timeMs, warmupTime: Math.min(500, options.timeMs / 2), iterations: 10 });
  for (const [name, , fn] of tasks) bench.add(name, fn);
  await bench.run();

  const perRequest = new Map<string, number>();
  for (const task of bench.tasks) {
    const result = task.result;
    if (!('latency' in result)) throw new Error(`micro-benchmark ${task.name} did not complete (${result.state})`);
    perRequest.set(task.name, (result.latency.p50 * 1e6) / BATCH);
  }
  await authFetch.dispose();
  await auth.dispose();
  return tasks.map(([name, baseline]) => {
    const ns = perRequest.get(name)!;
    return { name, nsPerRequest: ns, baseline, addedNs: baseline ? ns - perRequest.get(baseline)! : 0 };
  });
}

/** A refresh that answers when told to. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

function authorizationOf(init: RequestInit | undefined): string | null {
  const headers = init?.headers;
  if (headers instanceof Headers) return headers.get('authorization');
  return (headers as Record<string, string> | undefined)?.authorization ?? null;
}

const UNAUTHORIZED = new Response(null, { status: 401 });

/** A fetch stub: the token endpoint answers when `refresh` opens; the API refuses the old token. */
function gatedFetch(refresh: ReturnType<typeof gate>, counter: { unauthorized: number }): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    if (String(input) === TOKEN_ENDPOINT) {
      await refresh.opened;
      return Response.json({ access_token: 'new', refresh_token: 'r2', token_type: 'Bearer' });
    }
    if (authorizationOf(init) === 'Bearer old') {
      counter.unauthorized++;
      return UNAUTHORIZED;
    }
    return OK;
  }) as typeof fetch;
}

function gatedAdapter(refresh: ReturnType<typeof gate>, counter: { unauthorized: number }): AxiosAdapter {
  return async (config: InternalAxiosRequestConfig) => {
    const response = (status: number, data: unknown = null): AxiosResponse => ({ data, status, statusText: '', headers: {}, config, request: {} });
    if (config.url === TOKEN_ENDPOINT) {
      await refresh.opened;
      return response(200, { access_token: 'new', refresh_token: 'r2', token_type: 'Bearer' });
    }
    if (String(config.headers.get('authorization')) === 'Bearer old') {
      counter.unauthorized++;
      throw new AxiosError('Request failed with status code 401', AxiosError.ERR_BAD_REQUEST, config, {}, response(401));
    }
    return response(200);
  };
}

export interface ReleaseRow {
  name: string;
  /** How the requests came to wait. */
  how: string;
  count: number;
  /** Refresh answered → last waiting request resolved, ms (median of the runs). */
  releaseMs: number;
  /** Heap per waiting request, bytes (median), or null without --expose-gc. */
  bytesPerRequest: number | null;
  failed: number;
}

interface ReleaseSubject {
  name: string;
  how: string;
  /** Build the client; `start` sends the requests; resolves when all `count` wait. */
  make(
    refresh: ReturnType<typeof gate>,
    counter: { unauthorized: number },
  ): {
    start(count: number): Promise<PromiseSettledResult<unknown>[]>;
    waiting(count: number): boolean;
    dispose(): Promise<void>;
  };
}

const queuedOn401 = 'all sent with the expired token; each 401 waits';

const subjects: ReleaseSubject[] = [
  {
    name: 'authchart (fetch)',
    how: queuedOn401,
    make(refresh, counter) {
      const authFetch = createAuthFetch({
        refresh: async () => {
          await refresh.opened;
          return { accessToken: 'new', refreshToken: 'r2' };
        },
        allowedOrigins: [ORIGIN],
        fetch: gatedFetch(refresh, counter),
        tokens: { accessToken: 'old', refreshToken: 'r1' },
        debounceMs: 0,
        maxWaitMs: 120_000,
      });
      return {
        start: (count) => Promise.allSettled(Array.from({ length: count }, () => authFetch(API))),
        waiting: (count) => authFetch.getStatus().queued === count,
        dispose: () => authFetch.dispose(),
      };
    },
  },
  {
    name: 'authchart (axios)',
    how: queuedOn401,
    make(refresh, counter) {
      const instance = axios.create({ adapter: gatedAdapter(refresh, counter) });
      const auth = attachAuth(instance, {
        refresh: async () => {
          await refresh.opened;
          return { accessToken: 'new', refreshToken: 'r2' };
        },
        allowedOrigins: [ORIGIN],
        tokens: { accessToken: 'old', refreshToken: 'r1' },
        debounceMs: 0,
        maxWaitMs: 120_000,
      });
      return {
        start: (count) => Promise.allSettled(Array.from({ length: count }, () => instance.get(API))),
        waiting: (count) => auth.getStatus().queued === count,
        dispose: () => auth.dispose(),
      };
    },
  },
  {
    name: 'shared refreshPromise',
    how: queuedOn401,
    make(refresh, counter) {
      const request = sharedPromiseFetch({
        tokenEndpoint: TOKEN_ENDPOINT,
        clientId: 'bench',
        storage: peerStorage('old'),
        fetch: gatedFetch(refresh, counter),
      });
      return {
        start: (count) => Promise.allSettled(Array.from({ length: count }, () => request(API))),
        waiting: (count) => counter.unauthorized === count,
        dispose: async () => undefined,
      };
    },
  },
  {
    name: 'axios isRefreshing + failedQueue',
    how: queuedOn401,
    make(refresh, counter) {
      const instance = axios.create({ adapter: gatedAdapter(refresh, counter) });
      const refreshClient = axios.create({ adapter: gatedAdapter(refresh, counter) });
      attachFailedQueue(instance, { tokenEndpoint: TOKEN_ENDPOINT, clientId: 'bench', storage: peerStorage('old'), refreshClient });
      return {
        start: (count) => Promise.allSettled(Array.from({ length: count }, () => instance.get(API))),
        waiting: (count) => counter.unauthorized === count,
        dispose: async () => undefined,
      };
    },
  },
  {
    // Its 401s that arrive during the refresh are rejected, not queued; what it holds back
    // are the requests sent while the refresh runs (its request interceptor stalls them).
    name: 'axios-auth-refresh',
    how: 'one 401 starts the refresh; the others are sent during it and stalled',
    make(refresh, counter) {
      const instance = axios.create({ adapter: gatedAdapter(refresh, counter) });
      const refreshClient = axios.create({ adapter: gatedAdapter(refresh, counter) });
      attachAxiosAuthRefresh(instance, { tokenEndpoint: TOKEN_ENDPOINT, clientId: 'bench', storage: peerStorage('old'), refreshClient });
      let sent = 0;
      return {
        async start(count) {
          const first = instance.get(API);
          while (counter.unauthorized === 0) await tick();
          await tick();
          const rest = Array.from({ length: count - 1 }, () => {
            sent++;
            return instance.get(API);
          });
          return Promise.allSettled([first, ...rest]);
        },
        waiting: (count) => sent === count - 1,
        dispose: async () => undefined,
      };
    },
  },
];

const gc = (globalThis as { gc?: () => void }).gc;

function heapAfterGc(): number | null {
  if (!gc) return null;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function releaseOnce(subject: ReleaseSubject, count: number) {
  const refresh = gate();
  const counter = { unauthorized: 0 };
  const client = subject.make(refresh, counter);
  await tick();
  const before = heapAfterGc();
  const all = client.start(count);
  const deadline = performance.now() + 60_000;
  while (!client.waiting(count)) {
    if (performance.now() > deadline) throw new Error(`${subject.name}: the requests never all waited`);
    await tick();
  }
  await tick();
  const after = heapAfterGc();
  const started = performance.now();
  refresh.open();
  const results = await all;
  const releaseMs = performance.now() - started;
  await client.dispose();
  return {
    releaseMs,
    bytesPerRequest: before !== null && after !== null ? (after - before) / count : null,
    failed: results.filter((r) => r.status === 'rejected').length,
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
};

/** Release `count` waiting requests, `runs` times per subject, alternating subjects. */
export async function release(options: { count: number; runs: number; progress?: (line: string) => void }): Promise<ReleaseRow[]> {
  const samples = new Map<string, { releaseMs: number[]; bytes: number[]; failed: number }>();
  for (let run = 0; run < options.runs; run++) {
    const order = subjects.map((_, i) => subjects[(i + run) % subjects.length]!);
    for (const subject of order) {
      const result = await releaseOnce(subject, options.count);
      const entry = samples.get(subject.name) ?? { releaseMs: [], bytes: [], failed: 0 };
      entry.releaseMs.push(result.releaseMs);
      if (result.bytesPerRequest !== null) entry.bytes.push(result.bytesPerRequest);
      entry.failed += result.failed;
      samples.set(subject.name, entry);
      options.progress?.(`release ${options.count}: ${subject.name} ${result.releaseMs.toFixed(1)} ms`);
    }
  }
  return subjects.map((subject) => {
    const entry = samples.get(subject.name)!;
    return {
      name: subject.name,
      how: subject.how,
      count: options.count,
      releaseMs: median(entry.releaseMs),
      bytesPerRequest: entry.bytes.length ? median(entry.bytes) : null,
      failed: entry.failed,
    };
  });
}
