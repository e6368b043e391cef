/**
 * R12 (time from lifetimes, not from another machine's clock) and R13 (proactive
 * refresh follows activity): skewed clocks, tokens born expired, idle sessions.
 */
import { fc, test } from '@fast-check/vitest';
import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { createSession, type Refresher } from '../../adapters/index.js';
import { createHarness, mock, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** An unsigned JWT with these claims (authchart reads, never verifies, exp and iat). */
function jwt(claims: Record<string, number | string>): string {
  const encode = (value: unknown) => btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${encode({ alg: 'none' })}.${encode(claims)}.sig`;
}

/**
 * A server whose clock is `skewMs` behind ours, issuing JWT access tokens that live
 * `lifetimeS` seconds by ITS clock, and a resource that checks them by its clock.
 * `answer` says what the refresh answer carries besides the token.
 */
function skewedServer(options: { skewMs: number; lifetimeS: number; answer: 'exp only' | 'exp and iat' | 'expires_in' }) {
  const serverNow = () => Date.now() - options.skewMs;
  const state = { calls: 0, unauthorized: 0 };
  const issue = () => {
    const iat = Math.floor(serverNow() / 1000);
    const claims: Record<string, number | string> = { sub: 'u', exp: iat + options.lifetimeS, jti: `t${state.calls}` };
    if (options.answer !== 'exp only') claims.iat = iat;
    return jwt(claims);
  };
  const refresh: Refresher = async () => {
    state.calls++;
    const accessToken = issue();
    return options.answer === 'expires_in' ? { accessToken, refreshToken: 'rt', expiresIn: options.lifetimeS } : { accessToken, refreshToken: 'rt' };
  };
  mock.use(
    http.get('https://api.skew.test/*', ({ request }) => {
      const token = request.headers.get('authorization')?.slice(7) ?? '';
      const exp = (JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp: number }).exp;
      if (exp * 1000 <= serverNow()) {
        state.unauthorized++;
        return new HttpResponse(null, { status: 401 });
      }
      return HttpResponse.json({ ok: true });
    }),
  );
  return { state, refresh, first: issue };
}

describe('R12: tokens born expired on the local clock', () => {
  it.each(['exp only'] as const)(
    'a clock a token lifetime ahead (a JWT with %s): a request every two seconds for ten minutes, no token-call loop',
    async (answer) => {
      // Our clock is 5 minutes ahead of the server's; tokens live 5 minutes by its clock.
      const server = skewedServer({ skewMs: 5 * MINUTE, lifetimeS: 300, answer });
      const authFetch = createAuthFetch({
        refresh: server.refresh,
        allowedOrigins: ['https://api.skew.test'],
        tokens: { accessToken: server.first(), refreshToken: 'rt' },
        wake: false,
      });
      let failed = 0;
      for (let second = 0; second < 600; second += 2) {
        const response = track(authFetch(`https://api.skew.test/r${second}`));
        await vi.advanceTimersByTimeAsync(2_000);
        if (!(response.value instanceof Response) || response.value.status !== 200) failed++;
      }
      // Before: a refresh every time the timer fired (hundreds a second). Now: tokens with an
      // untrustworthy expiry are used until a 401, so one call per real expiry at most.
      expect(server.state.calls).toBeLessThanOrEqual(3);
      expect(failed).toBe(0);
      await authFetch.dispose();
    },
  );

  it('expires_in: 0 from a rotating server: one refresh, then the token is used until a 401 says otherwise', async () => {
    const { server, authFetch, api } = await createHarness({ server: { accessTokenTtlSeconds: 3600 } });
    let calls = 0;
    mock.use(
      http.post('https://auth.authchart.test/oauth/token', async () => {
        calls++;
        return HttpResponse.json({ access_token: server.login().access_token, token_type: 'Bearer', expires_in: 0, refresh_token: 'rt-next' });
      }),
    );
    server.expireAccessTokens();
    for (let i = 0; i < 100; i++) {
      const r = track(authFetch(api(`/r${i}`)));
      await vi.advanceTimersByTimeAsync(1_000);
      expect((r.value as Response).status).toBe(200);
    }
    expect(calls).toBe(1);
    await authFetch.dispose();
  });

  it('a clock almost a token lifetime ahead (a JWT with exp only, seconds left on arrival): requests do not refresh it every few seconds', async () => {
    // Our clock is 117 s ahead of the server's; tokens live 120 s by its clock: each arrives
    // with 3 s left on ours, less than the floor (minRefreshIntervalMs, 5 s).
    const server = skewedServer({ skewMs: 117_000, lifetimeS: 120, answer: 'exp only' });
    const authFetch = createAuthFetch({
      refresh: server.refresh,
      allowedOrigins: ['https://api.skew.test'],
      tokens: { accessToken: server.first(), refreshToken: 'rt' },
      wake: false,
    });
    let failed = 0;
    for (let second = 0; second < 600; second += 2) {
      const response = track(authFetch(`https://api.skew.test/r${second}`));
      await vi.advanceTimersByTimeAsync(2_000);
      if (!(response.value instanceof Response) || response.value.status !== 200) failed++;
    }
    // Before: a refresh on the first request after those 3 s, every time (about one every 4 s).
    // Now such an expiry is not trusted: the token is used until a 401, once per real lifetime.
    expect(server.state.calls).toBeLessThanOrEqual(Math.ceil(600 / 120) + 1);
    expect(failed).toBe(0);
    await authFetch.dispose();
  });

  it('a JWT with exp and iat is timed by its lifetime on the local clock, whatever the skew', async () => {
    const server = skewedServer({ skewMs: 24 * HOUR, lifetimeS: 600, answer: 'exp and iat' });
    const session = createSession({ refresh: server.refresh, tokens: { accessToken: 'x', refreshToken: 'rt', expiresAt: Date.now() - 1 }, wake: false });
    const receivedAt = Date.now();
    const token = track(session.getAccessToken());
    await vi.advanceTimersByTimeAsync(10);
    expect(typeof token.value).toBe('string');
    // The server's clock is a day behind: its exp is long past on ours, its lifetime is not.
    expect(session.getStatus().expiresAt).toBe(receivedAt + 600_000);
    await session.dispose();
  });
});

describe('R13: proactive refresh follows activity', () => {
  it('an idle session makes no token call over ten token lifetimes; its next use refreshes once', async () => {
    const { server, authFetch, api } = await createHarness({ server: { accessTokenTtlSeconds: 60 } });
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    expect(server.stats.refreshCalls).toBe(0);
    const response = track(authFetch(api('/back')));
    await vi.advanceTimersByTimeAsync(100);
    expect((response.value as Response).status).toBe(200);
    expect(server.stats.refreshCalls).toBe(1);
    expect(server.stats.resourceUnauthorized).toBe(0);
  });

  it('keepAlive: true refreshes ahead with no request at all', async () => {
    const { server } = await createHarness({ server: { accessTokenTtlSeconds: 60 }, client: { keepAlive: true } });
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    expect(server.stats.refreshCalls).toBe(20);
  });

  it('a session in use refreshes ahead; once requests stop, so do token calls', async () => {
    const { server, authFetch, api } = await createHarness({ server: { accessTokenTtlSeconds: 60 } });
    for (let i = 0; i < 10; i++) {
      track(authFetch(api(`/busy${i}`)));
      await vi.advanceTimersByTimeAsync(30_000);
    }
    const busyCalls = server.stats.refreshCalls;
    expect(busyCalls).toBeGreaterThanOrEqual(9);
    await vi.advanceTimersByTimeAsync(30 * MINUTE);
    expect(server.stats.refreshCalls).toBeLessThanOrEqual(busyCalls + 1);
    expect(server.stats.resourceUnauthorized).toBe(0);
  });
});

describe('R12 and R13 together, over random skews and lifetimes (property)', () => {
  test.prop(
    {
      skewMs: fc.integer({ min: -24 * HOUR, max: 24 * HOUR }),
      lifetimeS: fc.integer({ min: 0, max: 24 * 3600 }),
      answer: fc.constantFrom('exp only' as const, 'exp and iat' as const, 'expires_in' as const),
      requestEveryS: fc.constantFrom(0, 60, 300),
    },
    { numRuns: 12 },
  )(
    'one simulated hour: token calls ≤ hours / lifetime + 1 without requests; one per token with them',
    async ({ skewMs, lifetimeS, answer, requestEveryS }) => {
      const server = skewedServer({ skewMs, lifetimeS, answer });
      const authFetch = createAuthFetch({
        refresh: server.refresh,
        allowedOrigins: ['https://api.skew.test'],
        tokens: { accessToken: server.first(), refreshToken: 'rt' },
        wake: false,
      });
      const step = requestEveryS > 0 ? requestEveryS * 1000 : HOUR;
      for (let elapsed = 0; elapsed < HOUR; elapsed += step) {
        if (requestEveryS > 0) track(authFetch(`https://api.skew.test/r${elapsed}`));
        await vi.advanceTimersByTimeAsync(step);
      }
      const lifetimeMs = lifetimeS * 1000;
      if (requestEveryS === 0) {
        expect(server.state.calls).toBeLessThanOrEqual(Math.floor(HOUR / Math.max(lifetimeMs, 1)) + 1);
      } else {
        // One call per token: never sooner than half a lifetime (or the 5 s floor), and a token
        // that is refused is refreshed once per batch of requests, not in a loop.
        const perToken = Math.floor(HOUR / Math.max(lifetimeMs / 2, 5_000)) + 1;
        const perRequest = Math.ceil(HOUR / step) + 1;
        expect(server.state.calls).toBeLessThanOrEqual(Math.min(perToken, perRequest) + 1);
      }
      await authFetch.dispose();
      // CPU only (fake time): the bound stops a hang, it does not time anything.
    },
    300_000,
  );
});
