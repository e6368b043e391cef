import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { jwtExpiresAt } from '../../adapters/core/expiry.js';
import { createSession, memoryLock, memoryStore, type StoredTokens, type TokenStore } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, testUrls, tokenServerHandlers } from '../../adapters/testing/index.js';
import { createHarness, mock, track, useMockNetwork } from '../support/harness.js';
import type { AuthFetchOptions } from '../../adapters/fetch/index.js';

useMockNetwork();

/** The app's hook for a backend that refreshes tokens itself and says so. */
const onResponse: AuthFetchOptions['onResponse'] = async (response, { updateTokens }) => {
  if (response.headers.get('x-token-refreshed') !== '1') return;
  const body = (await response.clone().json()) as { access_token: string; refresh_token: string; expires_in: number };
  await updateTokens({ accessToken: body.access_token, refreshToken: body.refresh_token, expiresAt: Date.now() + body.expires_in * 1000 });
};

describe('tokens pushed by a server (TOKENS_UPDATED)', () => {
  it('are stored and used by the next requests, with no token call', async () => {
    const { server, authFetch, api } = await createHarness({ client: { onResponse } });
    const pushed = server.login();
    mock.use(http.post(api('/checkout'), () => HttpResponse.json(pushed, { headers: { 'x-token-refreshed': '1' } })));
    await authFetch(api('/checkout'), { method: 'POST' });
    const seen: (string | null)[] = [];
    mock.use(
      http.get(api('/next'), ({ request }) => {
        seen.push(request.headers.get('authorization'));
        return HttpResponse.json({});
      }),
    );
    await authFetch(api('/next'));
    expect(seen).toEqual([`Bearer ${pushed.access_token}`]);
    expect(server.stats.tokenCalls).toBe(0);
    expect(authFetch.getStatus()).toMatchObject({ state: 'idle', tokenVersion: 2 });
  });

  it('arriving during a refresh release the queue at once and never start a second refresh', async () => {
    const { server, authFetch, api } = await createHarness({ client: { onResponse } });
    server.expireAccessTokens();
    server.fault({ type: 'delay', ms: 2000 });
    const waiting = Array.from({ length: 5 }, (_, i) => track(authFetch(api(`/w${i}`))));
    await vi.advanceTimersByTimeAsync(150);
    expect(authFetch.getStatus()).toMatchObject({ state: 'refreshing', queued: 5 });
    const pushed = server.login();
    // A public endpoint on the same origin answers with fresh tokens (the server refreshed upstream).
    mock.use(http.get(api('/session'), () => HttpResponse.json(pushed, { headers: { 'x-token-refreshed': '1' } })));
    // The app hears from its backend (here: a plain fetch) and hands the tokens over.
    await onResponse!(await fetch(api('/session')), authFetch);
    await vi.advanceTimersByTimeAsync(10);
    expect(waiting.every((w) => (w.value as Response | undefined)?.status === 200)).toBe(true);
    expect(server.stats.refreshCalls).toBe(1);
    await vi.advanceTimersByTimeAsync(2500);
    expect(server.stats.refreshCalls).toBe(1);
    expect(authFetch.getStatus().state).toBe('idle');
  });

  it('are ignored once logged out', async () => {
    const { server, authFetch } = await createHarness();
    await authFetch.logout();
    const pushed = server.login();
    await authFetch.updateTokens({ accessToken: pushed.access_token });
    expect(authFetch.getStatus()).toMatchObject({ state: 'loggedOut', hasRefreshToken: false });
  });

  it("are not stored once another tab signed out, even when the sign-out lands between the push's read and its write", async () => {
    const shared = memoryStore({ accessToken: 'at-1', refreshToken: 'rt-1', expiresAt: Date.now() + 3600_000 });
    // This tab's view of the shared store: another tab's logout() lands just before its first write.
    let signOutElsewhere = true;
    const store: TokenStore = {
      get: () => shared.get(),
      set: (tokens, options) => {
        if (signOutElsewhere) {
          signOutElsewhere = false;
          shared.clear();
        }
        return shared.set(tokens, options);
      },
      clear: () => shared.clear(),
      subscribe: (listener) => shared.subscribe!(listener),
    };
    const session = createSession({ refresh: async () => ({ accessToken: 'never' }), store, wake: false });
    await session.updateTokens({ accessToken: 'pushed' });
    await vi.advanceTimersByTimeAsync(0);
    // The user signed out: the push does not sign the store in again (every tab would follow it).
    expect(shared.get()).toBeNull();
    expect(session.getStatus().tokenVersion).toBe(1);
    // And this tab heard the sign-out, though it came while its own write was under way.
    await vi.advanceTimersByTimeAsync(10);
    expect(session.getStatus().state).toBe('loggedOut');
    await session.dispose();
  });

  it('an access token alone keeps the refresh token held', async () => {
    const { server, authFetch, api } = await createHarness();
    const pushed = server.login();
    await authFetch.updateTokens({ accessToken: pushed.access_token });
    expect(authFetch.getStatus().hasRefreshToken).toBe(true);
    server.expireAccessTokens();
    const r = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(200);
    expect((r.value as Response).status).toBe(200);
  });
});

describe('JWT exp (read, not verified)', () => {
  const jwt = (payload: object) => `eyJhbGciOiJub25lIn0.${btoa(JSON.stringify(payload)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')}.sig`;

  it('gives the expiry when none was given, for proactive refresh', async () => {
    expect(jwtExpiresAt(jwt({ exp: 1_767_229_200 }))).toBe(1_767_229_200_000);
    expect(jwtExpiresAt('opaque-token')).toBeUndefined();
    expect(jwtExpiresAt(jwt({ sub: 'x' }))).toBeUndefined();
    expect(jwtExpiresAt('a.!!!.c')).toBeUndefined();
  });

  it('login with a JWT and no expiresAt schedules the proactive refresh from exp', async () => {
    const { authFetch } = await createHarness();
    const exp = Math.floor(Date.now() / 1000) + 3600;
    await authFetch.login({ accessToken: jwt({ exp }), refreshToken: 'rt' });
    expect(authFetch.getStatus().expiresAt).toBe(exp * 1000);
    expect(authFetch.session.actor.getSnapshot().context.refreshAt).toBe(exp * 1000 - 30_000);
  });
});

/** A store whose calls answer in order, 100 ms each, as one connection to Redis or IndexedDB. */
function slowStore(inner: TokenStore): TokenStore {
  let tail: Promise<unknown> = Promise.resolve();
  const inOrder = <T>(call: () => T): Promise<T> => {
    const result = tail.then(() => new Promise<T>((resolve) => setTimeout(() => resolve(call()), 100)));
    tail = result;
    return result;
  };
  // (memoryStore answers synchronously.)
  return {
    get: () => inOrder(() => inner.get() as StoredTokens | null),
    set: (t, o) => inOrder(() => inner.set(t, o) as StoredTokens | null),
    clear: () => inOrder(() => inner.clear() as undefined),
    subscribe: inner.subscribe,
  };
}

describe('R15: the newest tokens win', () => {
  it('an access token pushed during a refresh does not lose the rotated refresh token: the next refresh presents it, no reuse', async () => {
    const { server, authFetch, api } = await createHarness();
    server.expireAccessTokens();
    server.fault({ type: 'delay', ms: 1000 });
    const first = track(authFetch(api('/during')));
    await vi.advanceTimersByTimeAsync(500);
    expect(authFetch.getStatus().state).toBe('refreshing');
    // The backend hands over a new access token only, as the README's "access token only" push.
    await authFetch.updateTokens({ accessToken: server.login().access_token });
    await vi.advanceTimersByTimeAsync(1000);
    expect((first.value as Response).status).toBe(200);
    // The next expiry: the refresh must present the token the server rotated to, not the old one.
    server.expireAccessTokens();
    const second = track(authFetch(api('/after')));
    await vi.advanceTimersByTimeAsync(500);
    expect((second.value as Response).status).toBe(200);
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.calls.map((c) => c.outcome)).toEqual(['rotated', 'rotated']);
  });

  it('the full set pushed while a refresh rotates it, stored after the refresh, does not bring back the rotated-away refresh token', async () => {
    const server = createTokenServer({ accessTokenTtlSeconds: 60 });
    mock.use(...tokenServerHandlers(server));
    const login = server.login();
    const tokens = { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + 60_000 };
    const store = slowStore(memoryStore(tokens));
    const session = createSession({ refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'spa' }), store, wake: false });
    await vi.advanceTimersByTimeAsync(200);
    server.fault({ type: 'delay', ms: 300 });
    const refreshed = track(session.refresh());
    await vi.advanceTimersByTimeAsync(350);
    // The backend hands over the set it saw: the one the refresh is rotating away right now.
    // Its write loses the compare-and-set to the refresh's; it must not win on the retry.
    const pushed = track(session.updateTokens(tokens));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(refreshed.error).toBeUndefined();
    expect(pushed.error).toBeUndefined();
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(2_000);
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.calls.map((c) => c.outcome)).toEqual(['rotated', 'rotated']);
    await session.dispose();
  });

  it('the full set pushed to one tab while another tab rotates it does not bring back the rotated-away refresh token', async () => {
    const server = createTokenServer({ accessTokenTtlSeconds: 60 });
    mock.use(...tokenServerHandlers(server));
    const login = server.login();
    const tokens = { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + 60_000 };
    const store = slowStore(memoryStore(tokens));
    const lock = memoryLock();
    const refresh = oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'spa' });
    const rotating = createSession({ refresh, store, lock, wake: false });
    const pushedTo = createSession({ refresh, store, lock, wake: false });
    await vi.advanceTimersByTimeAsync(500);
    server.fault({ type: 'delay', ms: 300 });
    track(rotating.refresh());
    await vi.advanceTimersByTimeAsync(350);
    // The other tab's backend hands it the set it saw: the one being rotated right now.
    const pushed = track(pushedTo.updateTokens(tokens));
    await vi.advanceTimersByTimeAsync(3_000);
    expect(pushed.error).toBeUndefined();
    for (const session of [pushedTo, rotating]) {
      track(session.refresh());
      await vi.advanceTimersByTimeAsync(3_000);
    }
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.calls.every((c) => c.outcome === 'rotated')).toBe(true);
    await Promise.all([rotating.dispose(), pushedTo.dispose()]);
  });

  it('an older JWT pushed last (a response that landed late) does not replace a newer one', async () => {
    const { authFetch } = await createHarness();
    const jwt = (iat: number) => `${btoa('{"alg":"none"}')}.${btoa(JSON.stringify({ iat, exp: iat + 3600 }))}.s`;
    const now = Math.floor(Date.now() / 1000);
    await authFetch.updateTokens({ accessToken: jwt(now + 10) });
    await authFetch.updateTokens({ accessToken: jwt(now + 5) });
    expect(await authFetch.getAccessToken()).toBe(jwt(now + 10));
    // Opaque tokens: the last one handed over wins.
    await authFetch.updateTokens({ accessToken: 'opaque-1' });
    await authFetch.updateTokens({ accessToken: 'opaque-2' });
    expect(await authFetch.getAccessToken()).toBe('opaque-2');
  });
});
