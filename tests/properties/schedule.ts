/**
 * Random schedules for the concurrency properties, and the runner that plays one against
 * the real fetch front end and the rotating token server (msw, fake timers), checking the
 * invariants as it goes. Violations are collected as sentences; the property fails with
 * them and fast-check prints the shrunk schedule.
 */
import { delay, http, HttpResponse } from 'msw';
import { vi } from 'vitest';
import { fc } from '@fast-check/vitest';
import type { InspectionEvent } from 'xstate';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { ErrorCode, isAuthchartError, sessionDefaults as defaultRefreshOptions, type Refresher } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, resourceReply, testUrls, type TokenServerFault, type TokenServerReply } from '../../adapters/testing/index.js';
import { mock } from '../support/harness.js';

/** How one token call ends. */
export type Outcome =
  | { kind: 'ok' }
  | { kind: 'slowOk'; ms: number }
  | { kind: 'unavailable' }
  | { kind: 'rateLimited'; retryAfterSeconds: number }
  | { kind: 'reset' }
  | { kind: 'timeout' }
  | { kind: 'invalidGrant' }
  /** The server rotates the refresh token, then the connection drops: the client never sees the new one. */
  | { kind: 'lostResponse' };

export interface ScheduledRequest {
  at: number;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Time the request spends on the wire before the resource server checks its token. */
  latencyMs: number;
  /** Abort it this long after it started (null: never). */
  abortAfterMs: number | null;
}

export type Action = { at: number; type: 'expire' | 'logout' | 'login' | 'refresh' };

export interface Schedule {
  requests: ScheduledRequest[];
  actions: Action[];
  /** Outcomes of the token calls, in order; calls past the end succeed. */
  outcomes: Outcome[];
}

export const BOUNDS = {
  horizonMs: 8_000,
  maxLatencyMs: 400,
  refreshTimeoutMs: 5_000,
  maxWaitMs: defaultRefreshOptions.maxWaitMs,
} as const;

const outcome: fc.Arbitrary<Outcome> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'ok' } as const) },
  { weight: 2, arbitrary: fc.integer({ min: 50, max: 3_000 }).map((ms) => ({ kind: 'slowOk', ms }) as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'unavailable' } as const) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 }).map((retryAfterSeconds) => ({ kind: 'rateLimited', retryAfterSeconds }) as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reset' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'timeout' } as const) },
  { weight: 2, arbitrary: fc.constant({ kind: 'invalidGrant' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lostResponse' } as const) },
);

const at = fc.integer({ min: 0, max: BOUNDS.horizonMs });

const request: fc.Arbitrary<ScheduledRequest> = fc.record({
  at,
  method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
  latencyMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: BOUNDS.maxLatencyMs })),
  abortAfterMs: fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 5_000 }) }),
});

const actions = (type: Action['type'], maxLength: number) =>
  fc.array(
    at.map((t) => ({ at: t, type })),
    { maxLength },
  );

/** Mostly small schedules (fast), sometimes up to 200 requests. */
export const scheduleArbitrary: fc.Arbitrary<Schedule> = fc.record({
  requests: fc.oneof(
    { weight: 9, arbitrary: fc.array(request, { minLength: 1, maxLength: 20 }) },
    { weight: 1, arbitrary: fc.array(request, { minLength: 1, maxLength: 200, size: 'max' }) },
  ),
  actions: fc
    .tuple(actions('expire', 4), actions('logout', 1), actions('login', 1), actions('refresh', 2))
    .map((lists) => lists.flat().sort((a, b) => a.at - b.at)),
  outcomes: fc.array(outcome, { maxLength: 12 }),
});

const toResponse = (reply: TokenServerReply): Response =>
  reply.kind === 'reset'
    ? HttpResponse.error()
    : reply.kind === 'html'
      ? new HttpResponse(reply.body, { status: reply.status, headers: { 'content-type': 'text/html' } })
      : HttpResponse.json(reply.body, { status: reply.status, headers: reply.headers });

function faultOf(o: Outcome): TokenServerFault | null {
  switch (o.kind) {
    case 'slowOk':
      return { type: 'delay', ms: o.ms };
    case 'unavailable':
      return { type: 'unavailable' };
    case 'rateLimited':
      return { type: 'rateLimited', retryAfterSeconds: o.retryAfterSeconds };
    case 'reset':
      return { type: 'reset' };
    case 'invalidGrant':
      return { type: 'invalidGrant' };
    case 'lostResponse':
      return { type: 'lostResponse' };
    default:
      return null;
  }
}

interface Tracked {
  id: number;
  spec: ScheduledRequest;
  startedAt: number;
  controller: AbortController;
  aborted: boolean;
  settledAt?: number;
  settles: number;
  value?: Response;
  body?: { method?: string; path?: string };
  error?: unknown;
}

export interface Report {
  violations: string[];
  tokenCalls: number;
  requests: number;
}

const TYPED = new Set<string>([ErrorCode.SESSION_EXPIRED, ErrorCode.REFRESH_UNAVAILABLE, ErrorCode.QUEUE_TIMEOUT, ErrorCode.UNAUTHORIZED_AFTER_REFRESH]);

/** Play `schedule` and check every invariant. `reuseGraceMs` > 0: a server that forgives a just-rotated token. */
export async function runSchedule(schedule: Schedule, options: { reuseGraceMs?: number } = {}): Promise<Report> {
  const violations: string[] = [];
  const violate = (message: string) => {
    if (violations.length < 20) violations.push(`${message} (t=${Date.now() - t0} ms)`);
  };
  mock.resetHandlers();
  const t0 = Date.now();
  const server = createTokenServer({ accessTokenTtlSeconds: 3_600, reuseGraceMs: options.reuseGraceMs ?? 0 });
  const hits = new Map<number, number>();
  const latency = new Map<number, number>();
  let call = 0;

  mock.use(
    http.post(testUrls.tokenEndpoint, async ({ request }) => {
      const planned = schedule.outcomes[call++] ?? { kind: 'ok' };
      {
        if (planned.kind === 'timeout') {
          // Never processed: ends when the client gives up (refreshTimeoutMs).
          await new Promise<void>((resolve) => request.signal.addEventListener('abort', () => resolve(), { once: true }));
          return HttpResponse.error();
        }
        const fault = faultOf(planned);
        if (fault) server.fault(fault);
        const form = new URLSearchParams(await request.text());
        return toResponse(await server.token({ form, authorization: request.headers.get('authorization') }, (ms) => delay(ms)));
      }
    }),
    http.all(`${testUrls.api}/p/:id`, async ({ request, params }) => {
      const id = Number(params.id);
      hits.set(id, (hits.get(id) ?? 0) + 1);
      const ms = latency.get(id) ?? 0;
      if (ms > 0) await delay(ms);
      const reply = resourceReply(server.authenticate(request.headers.get('authorization')), { method: request.method, path: new URL(request.url).pathname });
      return toResponse(reply);
    }),
  );

  // The refresher, counted: how many refreshes this client has in flight at once.
  const oauth = oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'authchart-properties' });
  let clientInFlight = 0;
  const refresher: Refresher = async (refreshToken, context) => {
    clientInFlight++;
    if (clientInFlight > 1) violate(`${clientInFlight} refreshes in flight at once`);
    try {
      return await oauth(refreshToken, context);
    } finally {
      clientInFlight--;
    }
  };

  // After any success: counters reset and the queue empty (every waiter released).
  function afterSuccess(event: InspectionEvent): void {
    if (event.type !== '@xstate.snapshot' || !event.event.type.startsWith('xstate.done.actor.')) return;
    const { context } = event.snapshot as unknown as { context: { attempt: number; permanentFailures: number; queued: number } };
    const waiting = authFetch.getStatus().queued;
    if (context.attempt !== 0 || context.permanentFailures !== 0 || context.queued !== 0 || waiting !== 0) {
      violate(`after a successful refresh: attempt ${context.attempt}, permanent ${context.permanentFailures}, queued ${context.queued}, waiters ${waiting}`);
    }
  }

  const login = server.login();
  const authFetch = createAuthFetch({
    refresh: refresher,
    refreshTimeoutMs: BOUNDS.refreshTimeoutMs,
    allowedOrigins: [new URL(testUrls.api).origin],
    tokens: { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + login.expires_in * 1000 },
    inspect: (event) => afterSuccess(event),
    wake: false,
  });

  // loggedOut exactly when three consecutive permanent failures happened, or on logout().
  let consecutivePermanent = 0;
  let owedLogout = false;
  let loggingOut = false;
  authFetch.on('refreshFailed', ({ failure }) => {
    if (owedLogout) violate('three consecutive permanent failures did not end the session');
    consecutivePermanent = failure.kind === 'permanent' ? consecutivePermanent + 1 : 0;
    owedLogout = consecutivePermanent >= 3;
  });
  authFetch.on('refreshed', () => {
    if (owedLogout) violate('three consecutive permanent failures did not end the session');
    consecutivePermanent = 0;
    owedLogout = false;
  });
  authFetch.on('loggedOut', ({ reason }) => {
    if (reason === 'permanentFailures' && !owedLogout) violate(`logged out for permanent failures after only ${consecutivePermanent} in a row`);
    if (reason === 'logout' && !loggingOut) violate('logged out with reason "logout" but logout() was not called');
    if (reason !== 'permanentFailures' && reason !== 'logout') violate(`logged out for "${reason}", which this schedule never causes`);
    owedLogout = false;
    consecutivePermanent = 0;
  });

  const tracked: Tracked[] = [];
  type Timed = { at: number; run: () => void | Promise<void> };
  const timeline: Timed[] = [];
  schedule.requests.forEach((spec, index) => {
    const id = index + 1;
    timeline.push({
      at: spec.at,
      run: () => {
        latency.set(id, spec.latencyMs);
        const controller = new AbortController();
        const entry: Tracked = { id, spec, startedAt: Date.now(), controller, aborted: false, settles: 0 };
        tracked.push(entry);
        authFetch(`${testUrls.api}/p/${id}`, { method: spec.method, signal: controller.signal }).then(
          async (response) => {
            entry.settles++;
            entry.settledAt = Date.now();
            entry.value = response;
            entry.body = (await response.json()) as Tracked['body'];
          },
          (error) => {
            entry.settles++;
            entry.settledAt = Date.now();
            entry.error = error;
          },
        );
        if (spec.abortAfterMs !== null) {
          timeline.push({
            at: spec.at + spec.abortAfterMs,
            run: () => {
              entry.aborted = true;
              controller.abort();
            },
          });
          timeline.sort((a, b) => a.at - b.at);
        }
      },
    });
  });
  for (const action of schedule.actions) {
    timeline.push({
      at: action.at,
      run: async () => {
        switch (action.type) {
          case 'expire':
            server.expireAccessTokens();
            break;
          case 'refresh':
            authFetch.refresh().catch(() => undefined);
            break;
          case 'logout':
            loggingOut = true;
            await authFetch.logout();
            loggingOut = false;
            break;
          case 'login': {
            const tokens = server.login();
            consecutivePermanent = 0;
            owedLogout = false;
            await authFetch.login({ accessToken: tokens.access_token, refreshToken: tokens.refresh_token, expiresAt: Date.now() + tokens.expires_in * 1000 });
            break;
          }
        }
      },
    });
  }
  timeline.sort((a, b) => a.at - b.at);

  await vi.advanceTimersByTimeAsync(0);
  let now = 0;
  while (timeline.length > 0) {
    const next = timeline.shift()!;
    if (next.at > now) await vi.advanceTimersByTimeAsync(next.at - now);
    now = Math.max(now, next.at);
    await next.run();
  }
  // Drain: every request must settle within its bound (two waits in the queue, two trips).
  const bound = 2 * BOUNDS.maxWaitMs + 2 * BOUNDS.maxLatencyMs + 100;
  for (let waited = 0; waited < bound + 5_000 && tracked.some((t) => t.settles === 0); waited += 1_000) {
    await vi.advanceTimersByTimeAsync(1_000);
  }
  await vi.advanceTimersByTimeAsync(0);

  for (const t of tracked) {
    const label = `request ${t.id} (${t.spec.method} at ${t.spec.at} ms)`;
    if (t.settles !== 1) {
      violate(`${label} settled ${t.settles} times`);
      continue;
    }
    if (t.settledAt! - t.startedAt > bound) violate(`${label} took ${t.settledAt! - t.startedAt} ms, more than its bound of ${bound} ms`);
    const n = hits.get(t.id) ?? 0;
    if (n > 2) violate(`${label} reached the server ${n} times: replayed more than once`);
    if (t.value) {
      if (t.value.status !== 200) violate(`${label} resolved with HTTP ${t.value.status}`);
      else if (t.body?.path !== `/api/p/${t.id}` || t.body?.method !== t.spec.method)
        violate(`${label} got another request's answer (${t.body?.method} ${t.body?.path})`);
    } else if (!(t.aborted && (t.error as Error | undefined)?.name === 'AbortError') && !(isAuthchartError(t.error) && TYPED.has(t.error.code))) {
      violate(`${label} failed with an untyped error: ${String((t.error as Error | undefined)?.message ?? t.error)}`);
    }
  }

  // A refresh token the server rotated away is presented again only after a lost response.
  const lost = new Set<string>();
  for (const c of server.calls) {
    if (c.grantType !== 'refresh_token') continue;
    if ((c.outcome === 'reuse-detected' || c.outcome === 'revoked' || c.outcome === 'unknown') && !lost.has(c.refreshToken ?? '')) {
      violate(`a rotated-away refresh token was presented (${c.outcome}) without a lost response before it`);
    }
    if (options.reuseGraceMs && c.outcome === 'reuse-detected') violate('a grace-period server detected reuse after a lost response');
    if (c.outcome === 'fault:lostResponse') lost.add(c.refreshToken ?? '');
  }
  if (owedLogout) violate('three consecutive permanent failures did not end the session');

  await authFetch.dispose();
  await vi.advanceTimersByTimeAsync(0);
  return { violations, tokenCalls: server.stats.refreshCalls, requests: tracked.length };
}
