/**
 * R14: stores that hang, throw or lose a race. Every store call is bounded, the session
 * recovers by itself, and tokens the server rotated are never lost because a store failed.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  createSession,
  ErrorCode,
  isAuthchartError,
  memoryLock,
  memoryStore,
  RefreshError,
  webStorageStore,
  type AuthchartError,
  type TokenStore,
} from '../../adapters/index.js';
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

/** A store whose calls can be made to hang (never answer) until released; with `subscribe`, it tells of changes. */
function hangingStore(inner: TokenStore, options: { subscribe?: boolean } = {}) {
  let hanging = false;
  const parked: (() => void)[] = [];
  const call = <T>(run: () => T | Promise<T>) =>
    hanging ? new Promise<T>((resolve, reject) => parked.push(() => Promise.resolve(run()).then(resolve, reject))) : run();
  const store: TokenStore = {
    get: () => call(() => inner.get()),
    set: (tokens, options) => call(() => inner.set(tokens, options)),
    clear: () => call(() => inner.clear()),
    ...(options.subscribe ? { subscribe: (listener: () => void) => inner.subscribe!(listener) } : {}),
  };
  return {
    store,
    hang: () => (hanging = true),
    /** Answer again; the held calls land late, or (`dropHeld`) never answer, as on a connection that died. */
    recover: (options: { dropHeld?: boolean } = {}) => {
      hanging = false;
      const held = parked.splice(0);
      if (!options.dropHeld) for (const run of held) run();
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
  it("an owed write refused by an older record of the session's own writes goes on top of it, never back to the refresh token it rotated away", async () => {
    const { server, tokens } = strictServer();
    const hung = hangingStore(memoryStore(tokens));
    const session = createSession({ refresh: refresh(), store: hung.store, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    server.fault({ type: 'delay', ms: 1_000 });
    const refreshed = track(session.refresh());
    await vi.advanceTimersByTimeAsync(500);
    // During the refresh the app pushes the access token it holds: stored at once, with the
    // refresh token that the server is rotating away right now.
    await session.updateTokens({ accessToken: tokens.accessToken });
    hung.hang();
    // The refresh's write of the rotated tokens never answers: they are owed, used from memory.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(refreshed.error).toBeUndefined();
    expect(session.getStatus().unsavedTokens).toBe(true);
    // The store answers again: the owed write's compare-and-set fails against the pushed
    // record, which is not newer (it carries the rotated-away refresh token).
    hung.recover();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(session.getStatus().unsavedTokens).toBe(false);
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(2_000);
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.calls.map((c) => c.outcome)).toEqual(['rotated', 'rotated']);
    await session.dispose();
  });
  it('a write owed from a sign-in during a hang is dropped once newer tokens are stored: its retry does not overwrite a rotation', async () => {
    const { server, tokens } = strictServer();
    const hung = hangingStore(memoryStore(tokens));
    const session = createSession({ refresh: refresh(), store: hung.store, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    hung.hang();
    // Signed in while the store hangs: the sign-in's write is owed, retried after 1, 2, 4, 8,
    // 16 s (each try waits storeTimeoutMs): the fifth, at 40 s, schedules the next at 56 s.
    const signIn = server.login();
    track(session.login({ accessToken: signIn.access_token, refreshToken: signIn.refresh_token }));
    await vi.advanceTimersByTimeAsync(41_000);
    expect(session.getStatus().unsavedTokens).toBe(true);
    // A refresh: its own try of the owed write times out (46 s), so it refreshes from memory;
    // the store comes back (47 s, the held writes land late); the answer (54 s) is stored on
    // top of the sign-in's record. The owed write's retry (56 s) must not undo that.
    server.fault({ type: 'delay', ms: 8_000 });
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(6_000);
    hung.recover();
    await vi.advanceTimersByTimeAsync(60_000);
    // The rotated tokens are what the store holds, and what the next refresh presents.
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(5_000);
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.calls.map((c) => c.outcome)).toEqual(['rotated', 'rotated']);
    await session.dispose();
  });
  it('a sign-in whose write was owed, then adopted and rotated by another instance, is not written again over the rotation', async () => {
    const { server, tokens } = strictServer();
    const hung = hangingStore(memoryStore(tokens), { subscribe: true });
    const lock = memoryLock();
    const signingIn = createSession({ refresh: refresh(), store: hung.store, lock, wake: false });
    const other = createSession({ refresh: refresh(), store: hung.store, lock, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    hung.hang();
    // Signed in while the store hangs: the write is owed, retried after 1, 2, 4, 8 s…
    const signIn = server.login();
    track(signingIn.login({ accessToken: signIn.access_token, refreshToken: signIn.refresh_token }));
    await vi.advanceTimersByTimeAsync(28_000);
    // The store is back: the held writes land late; the other instance takes the sign-in
    // from the store and rotates it before the next retry of the owed write (35 s).
    hung.recover();
    await vi.advanceTimersByTimeAsync(100);
    track(other.refresh());
    await vi.advanceTimersByTimeAsync(60_000);
    for (const session of [signingIn, other]) {
      track(session.refresh());
      await vi.advanceTimersByTimeAsync(5_000);
    }
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.calls.every((c) => c.outcome === 'rotated')).toBe(true);
    await Promise.all([signingIn.dispose(), other.dispose()]);
  });
  it('an old write landing late during a refresh does not make the refresh drop its rotation for the stale record', async () => {
    const { server, tokens } = strictServer();
    const store = memoryStore(tokens);
    const session = createSession({ refresh: refresh(), store, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(1_000);
    // The next token call is slow; meanwhile a write of the first tokens, held up somewhere
    // (a hung store, a slow replica), lands late, unconditionally.
    server.fault({ type: 'delay', ms: 1_000 });
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(500);
    store.set(tokens);
    await vi.advanceTimersByTimeAsync(2_000);
    // The refresh's compare-and-set lost to that stale record: its rotation must still win.
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(2_000);
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.calls.map((c) => c.outcome)).toEqual(['rotated', 'rotated', 'rotated']);
    await session.dispose();
  });
  it('an access token pushed while the store hangs and a rotation is on its way does not bring back the refresh token just rotated away', async () => {
    const { server, tokens } = strictServer();
    const hung = hangingStore(memoryStore(tokens));
    const session = createSession({ refresh: refresh(), store: hung.store, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    server.fault({ type: 'delay', ms: 8_700 });
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(4_000);
    hung.hang();
    await vi.advanceTimersByTimeAsync(4_400);
    // The push's read of the store times out (at 13.4 s) just before the refresh's write of
    // the rotated tokens does (13.7 s): it must not merge with, and hold, the refresh token
    // the answer (at 8.7 s) rotated away.
    track(session.updateTokens({ accessToken: tokens.accessToken }));
    await vi.advanceTimersByTimeAsync(20_000);
    hung.recover({ dropHeld: true });
    await vi.advanceTimersByTimeAsync(30_000);
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(5_000);
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.calls.map((c) => c.outcome)).toEqual(['rotated', 'rotated']);
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

  it('a refused refresh after an unstored rotation does not go back to the older refresh token still in the store', async () => {
    const { server, tokens } = strictServer();
    const storage = quotaStorage() as Storage & { full: boolean };
    const store = webStorageStore({ storage });
    await store.set(tokens);
    const session = createSession({ refresh: refresh(), store, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    storage.full = true;
    // A rotation the store cannot take: the session holds the new refresh token in memory.
    const first = track(session.refresh());
    await vi.advanceTimersByTimeAsync(1_000);
    expect(first.error).toBeUndefined();
    // The next token call is refused (a permanent failure). R5 re-reads the store: what
    // it finds is OLDER than the write this session owes, so it is not "someone else's
    // rotation" to adopt.
    server.fault({ type: 'invalidGrant' });
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(5_000);
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(5_000);
    const presentedAgain = server.calls.slice(1).filter((c) => c.refreshToken === tokens.refreshToken).length;
    expect(presentedAgain).toBe(0);
    expect(server.stats.reuseDetected).toBe(0);
    await session.dispose();
  });

  it('a session that ends after an unstored rotation stays ended: it does not sign back in with the older record in the store', async () => {
    const { server, tokens } = strictServer();
    const storage = quotaStorage() as Storage & { full: boolean };
    const store = webStorageStore({ storage });
    await store.set(tokens);
    const session = createSession({ refresh: refresh(), store, wake: false, maxPermanentFailures: 1 });
    await vi.advanceTimersByTimeAsync(0);
    storage.full = true;
    const rotated = track(session.refresh());
    await vi.advanceTimersByTimeAsync(1_000);
    expect(rotated.error).toBeUndefined();
    // The grant is revoked at the server (a logout elsewhere): the next refresh ends the session.
    server.revoke(tokens.refreshToken);
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(5_000);
    // The store still holds the record this session rotated away itself: it is not another
    // tab's fresh sign-in, so the session does not adopt it.
    expect(session.getStatus().state).toBe('loggedOut');
    const after = track(session.getAccessToken());
    await vi.advanceTimersByTimeAsync(5_000);
    expect(isAuthchartError(after.error, ErrorCode.SESSION_EXPIRED)).toBe(true);
    expect(server.calls.slice(1).filter((c) => c.refreshToken === tokens.refreshToken).length).toBe(0);
    await session.dispose();
  });

  it('an access token pushed after an unstored rotation keeps the rotated refresh token held, not the older one in the store', async () => {
    const { server, tokens } = strictServer();
    const storage = quotaStorage() as Storage & { full: boolean };
    const store = webStorageStore({ storage });
    await store.set(tokens);
    const session = createSession({ refresh: refresh(), store, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    storage.full = true;
    const rotated = track(session.refresh());
    await vi.advanceTimersByTimeAsync(1_000);
    expect(rotated.error).toBeUndefined();
    // "Access token only": the refresh token to keep is the one the session holds (rotated,
    // owed to the store), not the one the store still has.
    await session.updateTokens({ accessToken: server.login().access_token });
    track(session.refresh());
    await vi.advanceTimersByTimeAsync(5_000);
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.calls.map((c) => c.outcome)).toEqual(['rotated', 'rotated']);
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

  it('rotated tokens that could not be stored win over a push another tab stored with the refresh token they replaced', async () => {
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

describe("the loser of a race does not clear the winner's tokens", () => {
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
