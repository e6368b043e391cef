/**
 * A refresh token held in an httpOnly cookie (`refreshTokenIn: 'cookie'`): the session
 * refreshes without seeing it, with every rule unchanged.
 */
import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { createSession, ErrorCode, isAuthchartError, memoryLock, memoryStore, RefreshError, type Refresher } from '../../adapters/index.js';
import { mock, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

const url = 'https://app.authchart.test/auth/refresh';

/** A refresh endpoint that rotates a cookie and revokes the family on reuse, as a strict server does. */
function cookieServer() {
  const state = { current: 'c1', used: new Set<string>(), revoked: false, calls: 0, reuse: 0 };
  mock.use(
    http.post(url, ({ request }) => {
      state.calls++;
      const cookie = /rt=([^;]+)/.exec(request.headers.get('cookie') ?? '')?.[1];
      if (state.revoked || !cookie) return HttpResponse.json({ error: 'invalid_grant' }, { status: 401 });
      if (state.used.has(cookie)) {
        state.reuse++;
        state.revoked = true;
        return HttpResponse.json({ error: 'invalid_grant' }, { status: 401 });
      }
      if (cookie !== state.current) return HttpResponse.json({ error: 'invalid_grant' }, { status: 401 });
      state.used.add(cookie);
      state.current = `c${state.calls + 1}`;
      return HttpResponse.json({ access_token: `at-${state.calls}`, expires_in: 60 });
    }),
  );
  return state;
}

/** What a browser does: the cookie jar sends the current cookie; the refresher never sees it. */
function cookieRefresher(jar: { cookie: string }, state: { current: string }): Refresher {
  return async (refreshToken, { signal }) => {
    expect(refreshToken).toBe('');
    const response = await fetch(url, { method: 'POST', headers: { cookie: `rt=${jar.cookie}` }, signal });
    if (response.status === 401) throw new RefreshError({ kind: 'permanent', reason: 'invalid_grant', status: 401 });
    jar.cookie = state.current; // Set-Cookie
    const body = (await response.json()) as { access_token: string; expires_in: number };
    return { accessToken: body.access_token, expiresIn: body.expires_in };
  };
}

describe("refreshTokenIn: 'cookie'", () => {
  it('four sessions sharing a store and a lock (four tabs), a herd each after expiry: one token call, session alive', async () => {
    const state = cookieServer();
    const jar = { cookie: state.current };
    const store = memoryStore({ accessToken: 'at-0', expiresAt: Date.now() - 1 });
    const lock = memoryLock();
    const tabs = Array.from({ length: 4 }, () => createSession({ refresh: cookieRefresher(jar, state), store, lock, refreshTokenIn: 'cookie', wake: false }));
    const tokens = tabs.flatMap((tab) => Array.from({ length: 10 }, () => track(tab.getAccessToken())));
    await vi.advanceTimersByTimeAsync(500);
    expect(tokens.every((t) => t.value === 'at-1')).toBe(true);
    expect(state).toMatchObject({ calls: 1, reuse: 0, revoked: false });
    expect(tabs.map((tab) => tab.getStatus().hasRefreshToken)).toEqual([true, true, true, true]);
    await Promise.all(tabs.map((tab) => tab.dispose()));
  });

  it('the endpoint refusing the cookie ends the session by the usual rule (three permanent failures)', async () => {
    const state = cookieServer();
    state.revoked = true;
    const jar = { cookie: 'c1' };
    const session = createSession({
      refresh: cookieRefresher(jar, state),
      tokens: { accessToken: 'at-0', expiresAt: Date.now() - 1 },
      refreshTokenIn: 'cookie',
      wake: false,
    });
    const token = track(session.getAccessToken());
    await vi.advanceTimersByTimeAsync(10_000);
    expect(isAuthchartError(token.error, ErrorCode.SESSION_EXPIRED)).toBe(true);
    expect(state.calls).toBe(3);
    expect(session.getStatus().loggedOutReason).toBe('permanentFailures');
  });

  it("without the option, a session with no refresh token ends at once (today's rule)", async () => {
    const state = cookieServer();
    const session = createSession({
      refresh: cookieRefresher({ cookie: 'c1' }, state),
      tokens: { accessToken: 'at-0', expiresAt: Date.now() - 1 },
      wake: false,
    });
    const token = track(session.getAccessToken());
    await vi.advanceTimersByTimeAsync(1_000);
    expect(isAuthchartError(token.error, ErrorCode.SESSION_EXPIRED)).toBe(true);
    expect(state.calls).toBe(0);
    expect(session.getStatus().loggedOutReason).toBe('noRefreshToken');
  });
});
