/**
 * The scenarios, each run against real HTTP servers on 127.0.0.1: one cell is one strategy
 * through one scenario once. A cell signs a user in (a new token family), builds the
 * strategy's clients on a fresh connection pool, runs the workload, waits until no refresh
 * is under way, and then asks the token server what happened.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TokenServer } from '../adapters/testing/index.js';
import { createTokenServer, startTestServers, type TestServers } from '../adapters/testing/node.js';
import { createTransport, UnauthorizedLog } from './io.js';
import type { Client, Strategy, Tokens } from './strategies.js';

export const CLIENT_ID = 'authchart-bench';

/** A token server (with its resource server) the cells of some scenarios share. */
export interface Lab {
  server: TokenServer;
  http: TestServers;
  /** Access-token lifetime, seconds. */
  ttlSeconds: number;
  tokenLatencyMs: number;
}

/**
 * Every token call is answered after `ms` (the refresh token rotates then), as a nearby
 * authorization server would; on loopback it would take well under a millisecond, which
 * hides the race every concurrent refresh runs in real deployments.
 */
function withTokenLatency(server: TokenServer, ms: number): TokenServer {
  const slow = Object.create(server) as TokenServer;
  slow.token = (request, wait) => wait(ms).then(() => server.token(request, wait));
  return slow;
}

export async function startLab(ttlSeconds: number, tokenLatencyMs: number): Promise<Lab> {
  const server = createTokenServer({ accessTokenTtlSeconds: ttlSeconds });
  const http = await startTestServers(withTokenLatency(server, tokenLatencyMs));
  return { server, http, ttlSeconds, tokenLatencyMs };
}

export interface RequestRecord {
  url: string;
  start: number;
  end: number;
  ok: boolean;
}

export interface CellResult {
  scenario: string;
  strategy: string;
  rep: number;
  requests: number;
  ok: number;
  failed: number;
  /** Refresh-grant calls the token server received. */
  tokenCalls: number;
  expiries: number;
  reuseDetected: number;
  /** The stored refresh token is the family's live one, and one more refresh with it works. */
  alive: boolean;
  /** Latency of the requests that succeeded, ms. */
  p50: number | null;
  p99: number | null;
  /** From the first 401 to the last response of a request that got one (worst over expiries), ms. */
  recoveryMs: number | null;
  /** 401s the resource server answered. */
  unauthorized: number;
  durationMs: number;
}

export type Send = (client: Client, path: string) => Promise<void>;

export interface CellPlan {
  scenario: string;
  lab: Lab;
  strategy: Strategy;
  rep: number;
  clients: number;
  expiries: number;
  /** Run before the workload, after sign-in: expire tokens, queue faults. */
  before?: (server: TokenServer) => void;
  /** Faults `before` queued: any the strategy did not run into are used up after the cell. */
  faults?: number;
  workload: (clients: Client[], send: Send) => Promise<void>;
  authchart?: Record<string, unknown>;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** First 401 to last response, per burst of 401s (an expiry); the worst burst. */
export function recoveryTime(requests: RequestRecord[], first401: Map<string, number>): number | null {
  const hits = requests
    .filter((r) => first401.has(r.url))
    .map((r) => ({ at: first401.get(r.url)!, end: r.end }))
    .sort((a, b) => a.at - b.at);
  if (hits.length === 0) return null;
  let worst = 0;
  let start = hits[0]!.at;
  let end = hits[0]!.end;
  for (const hit of hits.slice(1)) {
    if (hit.at > end) {
      worst = Math.max(worst, end - start);
      start = hit.at;
      end = hit.end;
    } else {
      end = Math.max(end, hit.end);
    }
  }
  return Math.max(worst, end - start);
}

/** Whether `refreshToken` is the family's live one and one more refresh with it works. */
async function sessionAlive(lab: Lab, refreshToken: string | undefined): Promise<boolean> {
  if (!refreshToken || !lab.server.isAlive(refreshToken)) return false;
  const response = await fetch(lab.http.tokenEndpoint, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLIENT_ID }),
  });
  await response.arrayBuffer();
  return response.ok;
}

/** Use up faults a strategy never reached (it gave up first), so the next cell starts clean. */
async function drainFaults(lab: Lab, queued: number): Promise<void> {
  const met = lab.server.calls.filter((call) => call.outcome.startsWith('fault:')).length;
  for (let i = met; i < queued; i++) {
    try {
      const response = await fetch(lab.http.tokenEndpoint, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'drain' }),
      });
      await response.arrayBuffer();
    } catch {
      // A reset connection: that was the fault.
    }
  }
}

export async function runCell(plan: CellPlan): Promise<CellResult> {
  const { lab, strategy } = plan;
  const login = lab.server.login();
  const tokens: Tokens = { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + login.expires_in * 1000 };
  const log = new UnauthorizedLog();
  const transport = createTransport(log);
  const shared = strategy.share(tokens);
  const env = {
    tokenEndpoint: lab.http.tokenEndpoint,
    apiOrigin: lab.http.apiOrigin,
    clientId: CLIENT_ID,
    transport,
    shared: plan.clients > 1,
    authchart: plan.authchart,
  };
  const clients = Array.from({ length: plan.clients }, () => strategy.client(shared, env));
  await sleep(5); // sessions read the store and start
  plan.before?.(lab.server);
  lab.server.resetStats();

  const requests: RequestRecord[] = [];
  const send: Send = async (client, path) => {
    const url = `${lab.http.api}/${path}`;
    const start = performance.now();
    let status = 0;
    try {
      status = await client.get(url);
    } catch {
      // A request the client gave up on: counted as failed.
    }
    requests.push({ url, start, end: performance.now(), ok: status >= 200 && status < 300 });
  };
  const started = performance.now();
  await plan.workload(clients, send);
  await Promise.all(clients.map((client) => client.settle()));
  const durationMs = performance.now() - started;

  const stats = { ...lab.server.stats };
  const stored = strategy.storedRefreshToken(shared);
  for (const client of clients) await client.dispose();
  await transport.close();
  await drainFaults(lab, plan.faults ?? 0);
  const alive = await sessionAlive(lab, stored);

  const latencies = requests
    .filter((r) => r.ok)
    .map((r) => r.end - r.start)
    .sort((a, b) => a - b);
  const ok = requests.filter((r) => r.ok).length;
  return {
    scenario: plan.scenario,
    strategy: strategy.key,
    rep: plan.rep,
    requests: requests.length,
    ok,
    failed: requests.length - ok,
    tokenCalls: stats.refreshCalls,
    expiries: plan.expiries,
    reuseDetected: stats.reuseDetected,
    alive,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    recoveryMs: recoveryTime(requests, log.first),
    unauthorized: stats.resourceUnauthorized,
    durationMs,
  };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** A scenario: how many repetitions, and the plan of one cell. */
export interface Scenario {
  key: string;
  label: string;
  lab: 'long' | 'short';
  reps: number;
  plan(strategy: Strategy, rep: number, lab: Lab): CellPlan;
}

/** The token expired at the server (the client still believes it valid); N requests at once. */
export function herd(n: number, reps: number): Scenario {
  return {
    key: `herd-${n}`,
    label: `herd, N = ${n.toLocaleString('en-US')}`,
    lab: 'long',
    reps,
    plan: (strategy, rep, lab) => ({
      scenario: `herd-${n}`,
      lab,
      strategy,
      rep,
      clients: 1,
      expiries: 1,
      before: (server) => server.expireAccessTokens(),
      workload: async ([client], send) => {
        await Promise.all(range(n).map((i) => send(client!, `herd${n}/${strategy.key}/${rep}/${i}`)));
      },
    }),
  };
}

/** Four clients of one user sharing one store (tabs); the token expired; 25 requests each at once. */
export function tabs(reps: number, perTab = 25): Scenario {
  return {
    key: 'tabs',
    label: `tabs: 4 clients sharing one store, ${perTab} requests each`,
    lab: 'long',
    reps,
    plan: (strategy, rep, lab) => ({
      scenario: 'tabs',
      lab,
      strategy,
      rep,
      clients: 4,
      expiries: 1,
      before: (server) => server.expireAccessTokens(),
      workload: async (clients, send) => {
        await Promise.all(clients.flatMap((client, tab) => range(perTab).map((i) => send(client, `tabs/${strategy.key}/${rep}/${tab}/${i}`))));
      },
    }),
  };
}

/**
 * Polling across several real token lifetimes: `pollers` loops, each a request then a
 * pause of `intervalMs`, for `durationMs`. authchart knows the expiry (`expires_in`) and
 * refreshes `leewayMs` before it; the peers refresh on the 401.
 */
export function steady(reps: number, options = { pollers: 4, intervalMs: 100, durationMs: 6_500, leewayMs: 250 }): Scenario {
  return {
    key: 'steady',
    label: `steady: ${options.pollers} pollers every ${options.intervalMs} ms for ${options.durationMs / 1000} s`,
    lab: 'short',
    reps,
    plan: (strategy, rep, lab) => ({
      scenario: 'steady',
      lab,
      strategy,
      rep,
      clients: 1,
      expiries: Math.floor(options.durationMs / (lab.ttlSeconds * 1000)),
      authchart: { leewayMs: options.leewayMs },
      workload: async ([client], send) => {
        const end = performance.now() + options.durationMs;
        await Promise.all(
          range(options.pollers).map(async (poller) => {
            await sleep((poller * options.intervalMs) / options.pollers);
            for (let i = 0; performance.now() < end; i++) {
              await send(client!, `steady/${strategy.key}/${rep}/${poller}/${i}`);
              await sleep(options.intervalMs);
            }
          }),
        );
      },
    }),
  };
}

/** The token expired; the token endpoint answers 503, then resets the connection, then recovers. */
export function flaky(reps: number, n = 50): Scenario {
  return {
    key: 'flaky',
    label: `flaky: ${n} requests; token endpoint 503, then connection reset, then recovers`,
    lab: 'long',
    reps,
    plan: (strategy, rep, lab) => ({
      scenario: 'flaky',
      lab,
      strategy,
      rep,
      clients: 1,
      expiries: 1,
      before: (server) => {
        server.expireAccessTokens();
        server.fault({ type: 'unavailable' }, { type: 'reset' });
      },
      faults: 2,
      workload: async ([client], send) => {
        await Promise.all(range(n).map((i) => send(client!, `flaky/${strategy.key}/${rep}/${i}`)));
      },
    }),
  };
}
