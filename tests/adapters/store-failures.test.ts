/**
 * Rule 14: stores that hang, throw or lose a race. Every store call is bounded, the session
 * recovers by itself, and tokens the server rotated are never lost because a store failed.
 */
import { describe, expect, it, vi } from 'vitest';
import { createSession, ErrorCode, isAuthchartError, memoryLock, memoryStore, RefreshError, webStorageStore, type AuthchartError, type TokenStore } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, testUrls, tokenServerHandlers } from '../../adapters/testing/index.js';
import { mock, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

function strictServer() {
  const server = createTokenServer({ accessTokenTtlSeconds: 60 });
  mock.use(...tokenServerHandlers(server));
  const login = server.login();
  return { server, tokens: { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + 60_000 } };
}
const refresh = () => oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'spa' });

/** A store whose calls can be made to hang (never answer) until released. */
function hangingStore(inner: TokenStore) {
  let hanging = false;
  const parked: (() => void)[] = [];
  const call = <T>(run: () => T | Promise<T>) =>
    hanging ? new Promise<T>((resolve, reject) => parked.push(() => Promise.resolve(run()).then(resolve, reject))) : run();
  const store: TokenStore = {
    get: () => call(() => inner.get()),
    set: (tokens, options) => call(() => inner.set(tokens, options)),
    clear: () => call(() => inner.clear()),
  };
  return {
    store,
    hang: () => (hanging = true),
    recover: () => {
      hanging = false;
      for (const run of parked.splice(0)) run();
    },
  };
}

/** localStorage that throws on every write (quota exceeded, Safari private mode). */
function quotaStorage(): Storage {
  const data = new Map<string, string>();
  let full = false;
  return {
    get length() {
      return data.size;
    },
    clear: () => data.clear(),
    getItem: (key) => data.get(key) ?? null,
    key: (index) => [...data.keys()][index] ?? null,
    removeItem: (key) => void data.delete(key),
    setItem: (key, value) => {
      if (full) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      data.set(key, value);
    },
    set full(value: boolean) {
      full = value;
    },
  } as Storage & { full: boolean };
}

describe('a store call that never answers (item 6)', () => {
  it('mid-refresh: the session does not stay refreshing; it uses the new tokens and writes them once the store answers', async () => {
    const { server, tokens } = strictServer();
    const backing = memoryStore(tokens);
    const hung = hangingStore(backing);
    const session = createSession({ refresh: refresh(), store: hung.store, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    server.expireAccessTokens();
    hung.hang();
    const token = track(session.getAccessToken());
    await vi.advanceTimersByTimeAsync(60_000);
    // The double-check's read hangs first: a transient failure past storeTimeoutMs, then backoff.
    expect(session.getStatus().state).not.toBe('refreshing');
    hung.recover();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(typeof token.value === 'string' || isAuthchartError(token.error, ErrorCode.REFRESH_UNAVAILABLE)).toBe(true);
    const again = track(session.getAccessToken());
    await vi.advanceTimersByTimeAsync(10_000);
    expect(typeof again.value).toBe('string');
    expect(server.authenticate(`Bearer ${again.value}`)).toMatchObject({ ok: true });
    expect(server.stats.reuseDetected).toBe(0);
    await session.dispose();
  });

  it('at start: an aborted request, login() and logout() all settle within their bounds', async () => {
    const { tokens } = strictServer();
    const hung = hangingStore(memoryStore(tokens));
    hung.hang();
    const session = createSession({ refresh: refresh(), store: hung.store, wake: false, storeTimeoutMs: 2_000 });
    const controller = new AbortController();
    const aborted = track(session.getAccessToken({ signal: controller.signal }));
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(aborted.settled).toBe(true);
    const loggedIn = track(session.login(tokens));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(loggedIn.settled).toBe(true);
    const loggedOut = track(session.logout());
    await vi.advanceTimersByTimeAsync(5_000);
    expect(loggedOut.settled).toBe(true);
    expect(isAuthchartError(loggedOut.error, ErrorCode.STORE_UNAVAILABLE)).toBe(true);
    await session.dispose();
  });
});

describe('Web Storage writes that throw (item 7)', () => {
  it('a refresh keeps the rotated tokens in memory and never presents the old refresh token again', async () => {
    const { server, tokens } = strictServer();
    const storage = quotaStorage() as Storage & { full: boolean };
    const store = webStorageStore({ storage });
    await store.set(tokens);
    const session = createSession({ refresh: refresh(), store, wake: false });
    const warnings: AuthchartError[] = [];
    session.on('warning', (event) => warnings.push(event.error));
    await vi.advanceTimersByTimeAsync(0);
    storage.full = true;
    for (let round = 0; round < 3; round++) {
      server.expireAccessTokens();
      const token = track(session.refresh());
      await vi.advanceTimersByTimeAsync(5_000);
      expect(token.error).toBeUndefined();
    }
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.calls.map((c) => c.outcome)).toEqual(['rotated', 'rotated', 'rotated']);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.every((w) => isAuthchartError(w, ErrorCode.STORE_UNAVAILABLE))).toBe(true);
    expect(session.getStatus().unsavedTokens).toBe(true);
    // The storage has room again: the tokens are written by themselves.
    storage.full = false;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(session.getStatus().unsavedTokens).toBe(false);
    const stored = (await store.get())!;
    expect(server.isAlive(stored.refreshToken!)).toBe(true);
    expect(server.authenticate(`Bearer ${stored.accessToken}`)).toMatchObject({ ok: true });
    await session.dispose();
  });

  it('login() with a full storage signs in from memory and warns STORE_UNAVAILABLE instead of rejecting with a raw QuotaExceededError', async () => {
    const { tokens } = strictServer();
    const storage = quotaStorage() as Storage & { full: boolean };
    storage.full = true;
    const session = createSession({ refresh: refresh(), store: webStorageStore({ storage }), wake: false });
    const warnings: AuthchartError[] = [];
    session.on('warning', (event) => warnings.push(event.error));
    await session.login(tokens);
    expect(await session.getAccessToken()).toBe(tokens.accessToken);
    expect(warnings.map((w) => w.code)).toEqual([ErrorCode.STORE_UNAVAILABLE]);
    await session.dispose();
  });

  it('dispose() with rotated tokens still unstored writes them once more, so the rotation is not lost with the session', async () => {
    const { server, tokens } = strictServer();
    const storage = quotaStorage() as Storage & { full: boolean };
    const store = webStorageStore({ storage });
    await store.set(tokens);
    const session = createSession({ refresh: refresh(), store, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    storage.full = true;
    server.expireAccessTokens();
    await session.refresh();
    expect(session.getStatus().unsavedTokens).toBe(true);
    // The storage has room again before the next retry, and the page unmounts the session.
    storage.full = false;
    await session.dispose();
    const stored = (await store.get())!;
    expect(server.isAlive(stored.refreshToken!)).toBe(true);
    // Another tab (or the next page) refreshes from the store: no reuse.
    const next = createSession({ refresh: refresh(), store, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    server.expireAccessTokens();
    await next.refresh();
    expect(server.stats.reuseDetected).toBe(0);
    await next.dispose();
  });

  it("rotated tokens that could not be stored win over a push another tab stored with the refresh token they replaced", async () => {
    const { server, tokens } = strictServer();
    const shared = memoryStore(tokens);
    // This tab's connection: its next write throws (the rotated tokens stay in memory, owed).
    let fail = false;
    const mine: TokenStore = {
      get: () => shared.get(),
      set: (t, options) => {
        if (fail) {
          fail = false;
          throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        }
        return shared.set(t, options);
      },
      clear: () => shared.clear(),
      subscribe: (listener) => shared.subscribe!(listener),
    };
    const tab = createSession({ refresh: refresh(), store: mine, wake: false });
    const other = createSession({ refresh: refresh(), store: shared, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    fail = true;
    server.expireAccessTokens();
    await tab.refresh();
    expect(tab.getStatus().unsavedTokens).toBe(true);
    // The other tab is handed an access token (an X-Token-Refreshed header): it stores it with
    // the only refresh token it knows, the one the server has just rotated away.
    await other.updateTokens({ accessToken: 'pushed-at' });
    await vi.advanceTimersByTimeAsync(30_000);
    // The rotation is not lost: the store ends with the rotated refresh token, and the next
    // refresh anywhere presents it.
    expect(server.isAlive((await shared.get())!.refreshToken!)).toBe(true);
    server.expireAccessTokens();
    await other.refresh();
    expect(server.stats.reuseDetected).toBe(0);
    await tab.dispose();
    await other.dispose();
  });

  it('a sign-in that could not be stored is not written later over a newer sign-in that was', async () => {
    const { server, tokens: old } = strictServer();
    const storage = quotaStorage() as Storage & { full: boolean };
    const session = createSession({ refresh: refresh(), store: webStorageStore({ storage }), tokens: old, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    const first = server.login();
    storage.full = true;
    await session.login({ accessToken: first.access_token, refreshToken: first.refresh_token, expiresAt: Date.now() + 60_000 });
    storage.full = false;
    const second = server.login();
    await session.login({ accessToken: second.access_token, refreshToken: second.refresh_token, expiresAt: Date.now() + 60_000 });
    // The first sign-in's write was owed, to be tried again (after 1 s, 2 s, …): the second one made it obsolete.
    await vi.advanceTimersByTimeAsync(30_000);
    expect((await webStorageStore({ storage }).get())?.refreshToken).toBe(second.refresh_token);
    expect(await session.getAccessToken()).toBe(second.access_token);
    expect(session.getStatus().unsavedTokens).toBe(false);
    await session.dispose();
  });

  it('a token pushed while a sign-in is still unsaved merges with that sign-in, never with the older one in the store', async () => {
    const { server, tokens: old } = strictServer();
    const storage = quotaStorage() as Storage & { full: boolean };
    const session = createSession({ refresh: refresh(), store: webStorageStore({ storage }), tokens: old, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    // A new sign-in while the storage is full: held in memory, its write owed.
    const login = server.login();
    storage.full = true;
    await session.login({ accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + 60_000 });
    // An access token pushed (say by an X-Token-Refreshed header) while the write is still owed.
    await session.updateTokens({ accessToken: 'pushed-at', expiresAt: Date.now() + 60_000 });
    storage.full = false;
    await vi.advanceTimersByTimeAsync(5_000);
    const stored = await webStorageStore({ storage }).get();
    expect(stored?.accessToken).toBe('pushed-at');
    // The refresh token is the new sign-in's, never the one it replaced.
    expect(stored?.refreshToken).toBe(login.refresh_token);
    await session.dispose();
  });
});

describe('the loser of a race does not clear the winner\'s tokens', () => {
  it('a tab that gives up after another tab rotated leaves the store with the fresh tokens', async () => {
    const { server, tokens } = strictServer();
    const shared = memoryStore(tokens);
    let stale = false;
    // The losing tab's re-read after its failure is served before the winner's write lands.
    const lagging: TokenStore = {
      get: () => {
        if (!stale) return shared.get();
        stale = false;
        return { ...tokens, version: 1 };
      },
      set: (t, o) => shared.set(t, o),
      clear: () => shared.clear(),
    };
    const loser = createSession({
      refresh: async () => {
        stale = true;
        // Meanwhile the winner rotated the refresh token and stored its tokens.
        const fresh = server.login();
        shared.set({ accessToken: fresh.access_token, refreshToken: fresh.refresh_token, expiresAt: Date.now() + 60_000 });
        throw new RefreshError({ kind: 'permanent', reason: 'invalid_grant', status: 400 });
      },
      store: lagging,
      maxPermanentFailures: 1,
      lock: memoryLock(),
      wake: false,
    });
    await vi.advanceTimersByTimeAsync(0);
    const outcome = track(loser.refresh());
    await vi.advanceTimersByTimeAsync(200);
    expect(outcome.settled).toBe(true);
    const left = shared.get() as { accessToken: string } | null;
    expect(left).not.toBeNull();
    expect(server.authenticate(`Bearer ${left!.accessToken}`)).toMatchObject({ ok: true });
    await loser.dispose();
  });
});

describe('a synchronous store answers synchronously', () => {
  it('a session created with tokens over memory or Web Storage is ready at once: the first credential is not a promise', async () => {
    const { frontEndOf } = await import('../../adapters/core/front-end.js');
    for (const store of [memoryStore(), webStorageStore({ storage: quotaStorage() })]) {
      const session = createSession({ refresh: async () => ({ accessToken: 'at_2' }), store, tokens: { accessToken: 'at_1', refreshToken: 'rt_1' } });
      const credential = frontEndOf(session).credential();
      expect(credential).not.toBeInstanceOf(Promise);
      expect((credential as { accessToken: string }).accessToken).toBe('at_1');
      await session.dispose();
    }
  });
});
