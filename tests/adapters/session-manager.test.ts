/** The server-side session manager on the memory drivers, with fake timers. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RefreshError, isAuthchartError } from '../../adapters/core/errors.js';
import type { Refresher, TokenStore } from '../../adapters/core/ports.js';
import { memoryLock } from '../../adapters/locks/memory.js';
import { createSessionManager, type SessionManagerOptions } from '../../adapters/server/session-manager.js';
import { memoryStore } from '../../adapters/stores/memory.js';

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

function setup(options: Partial<SessionManagerOptions> = {}) {
  const stores = new Map<string, TokenStore>();
  const storeCalls: string[] = [];
  const presented: string[] = [];
  let n = 0;
  const refresh: Refresher = async (refreshToken) => {
    presented.push(refreshToken);
    await new Promise((resolve) => setTimeout(resolve, 50));
    n++;
    return { accessToken: `at-new-${n}`, refreshToken: `rt-new-${n}`, expiresIn: 3600 };
  };
  const signIn = (sessionId: string, expiresAt = Date.now() + 3600_000) =>
    stores.set(sessionId, memoryStore({ accessToken: `at-${sessionId}`, refreshToken: `rt-${sessionId}`, expiresAt }));
  const manager = createSessionManager({
    refresh,
    store: (sessionId) => {
      storeCalls.push(sessionId);
      return stores.get(sessionId) ?? memoryStore();
    },
    lock: () => memoryLock(),
    idleTimeoutMs: 10_000,
    session: { wake: false },
    ...options,
  });
  return { manager, stores, storeCalls, presented, signIn };
}

describe('createSessionManager', () => {
  it('creates a session on first use, once, however many requests ask at the same moment', async () => {
    const { manager, storeCalls, signIn } = setup();
    signIn('alice');
    expect(manager.size).toBe(0);
    const tokens = await Promise.all(Array.from({ length: 20 }, () => manager.getValidAccessToken('alice')));
    expect(new Set(tokens)).toEqual(new Set(['at-alice']));
    expect(storeCalls).toEqual(['alice']);
    expect(manager.size).toBe(1);
  });

  it('refreshes an expired session once for all concurrent callers', async () => {
    const { manager, presented, signIn } = setup();
    signIn('alice', Date.now() - 1);
    const all = Promise.all(Array.from({ length: 20 }, () => manager.getValidAccessToken('alice')));
    await vi.advanceTimersByTimeAsync(100);
    expect(new Set(await all)).toEqual(new Set(['at-new-1']));
    expect(presented).toEqual(['rt-alice']);
  });

  it('rejects an unknown session with SESSION_EXPIRED and keeps nothing of it in memory', async () => {
    const { manager } = setup();
    const error = await manager.getValidAccessToken('made-up').catch((e: unknown) => e);
    expect(isAuthchartError(error, 'SESSION_EXPIRED')).toBe(true);
    expect(manager.size).toBe(0);
  });

  it('drops a session idle for idleTimeoutMs; the next request loads it again', async () => {
    const { manager, storeCalls, signIn } = setup();
    signIn('alice');
    const session = await manager.withSession('alice', (s) => s);
    await vi.advanceTimersByTimeAsync(9_000);
    expect(manager.size).toBe(1);
    await vi.advanceTimersByTimeAsync(6_000);
    expect(manager.size).toBe(0);
    // The dropped session was disposed (its store listener and timers are gone).
    await expect(session.getAccessToken()).rejects.toMatchObject({ code: 'DISPOSED' });
    expect(await manager.getValidAccessToken('alice')).toBe('at-alice');
    expect(storeCalls).toEqual(['alice', 'alice']);
  });

  it('never drops a session while a request is using it', async () => {
    const { manager, signIn } = setup();
    signIn('alice');
    let finish!: () => void;
    const busy = manager.withSession('alice', () => new Promise<void>((resolve) => (finish = resolve)));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(manager.size).toBe(1);
    finish();
    await busy;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(manager.size).toBe(0);
  });

  it('keeps at most maxSessions, dropping the least recently used', async () => {
    const { manager, signIn, storeCalls } = setup({ maxSessions: 30 });
    for (let i = 0; i < 300; i++) {
      signIn(`user-${i}`);
      await manager.getValidAccessToken(`user-${i}`);
      expect(manager.size).toBeLessThanOrEqual(30);
    }
    const loads = storeCalls.length;
    await manager.getValidAccessToken('user-280'); // recently used: still held, not loaded again
    await manager.getValidAccessToken('user-299');
    expect(storeCalls.length).toBe(loads);
    await manager.getValidAccessToken('user-0'); // dropped long ago: loaded again
    expect(storeCalls.slice(loads)).toEqual(['user-0']);
    expect(manager.size).toBe(30);
  });

  it('drops a session that ends (permanent failures) so its memory goes with it', async () => {
    const stores = new Map<string, TokenStore>([['alice', memoryStore({ accessToken: 'at', refreshToken: 'rt', expiresAt: Date.now() - 1 })]]);
    const manager = createSessionManager({
      refresh: async () => {
        throw new RefreshError({ kind: 'permanent', reason: 'invalid_grant', status: 400 });
      },
      store: (id) => stores.get(id) ?? memoryStore(),
      session: { wake: false, backoffBaseMs: 10, maxPermanentFailures: 1 },
    });
    const outcome = manager.getValidAccessToken('alice').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(isAuthchartError(await outcome, 'SESSION_EXPIRED')).toBe(true);
    expect(manager.size).toBe(0);
    expect(await stores.get('alice')!.get()).toBeNull();
  });

  it('login stores tokens for a session, logout clears them everywhere', async () => {
    const { manager, stores } = setup();
    stores.set('bob', memoryStore());
    await manager.login('bob', { accessToken: 'at-bob', refreshToken: 'rt-bob' });
    expect(await manager.getValidAccessToken('bob')).toBe('at-bob');
    await manager.logout('bob');
    expect(manager.size).toBe(0);
    expect(await stores.get('bob')!.get()).toBeNull();
    await expect(manager.getValidAccessToken('bob')).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
  });

  it('dispose disposes every session and refuses later calls', async () => {
    const { manager, signIn } = setup();
    signIn('alice');
    const session = await manager.withSession('alice', (s) => s);
    await manager.dispose();
    expect(manager.size).toBe(0);
    await expect(session.getAccessToken()).rejects.toMatchObject({ code: 'DISPOSED' });
    await expect(manager.getValidAccessToken('alice')).rejects.toMatchObject({ code: 'DISPOSED' });
  });
});

describe('the manager never cuts a refresh off, and login/logout win over a load in flight (R14)', () => {
  /** A store whose reads take `delayMs` to come back with what they read when sent (a slow network store). */
  function slowStore(inner: TokenStore, delayMs: number): TokenStore {
    return {
      get: () => {
        const read = inner.get();
        return new Promise((resolve) => setTimeout(() => resolve(read as never), delayMs));
      },
      set: (tokens, options) => inner.set(tokens, options),
      clear: () => inner.clear(),
    };
  }

  it('at maxSessions, a session whose refresh is in flight is not evicted: the rotated refresh token is kept', async () => {
    const { manager, stores, presented, signIn } = setup({ maxSessions: 2 });
    signIn('alice', Date.now() - 1);
    signIn('bob');
    signIn('carol');
    // Alice's request gives up (aborted) while her refresh (50 ms) is in flight: she is unpinned but refreshing.
    const controller = new AbortController();
    const aborted = manager.getValidAccessToken('alice', { signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    await aborted;
    // Two more users push the manager past its bound.
    await manager.getValidAccessToken('bob');
    await manager.getValidAccessToken('carol');
    await vi.advanceTimersByTimeAsync(100);
    // Alice's refresh finished and was stored: her next request presents the rotated token, never the old one again.
    expect((await stores.get('alice')!.get())?.refreshToken).toBe('rt-new-1');
    expect(await manager.getValidAccessToken('alice')).toBe('at-new-1');
    expect(presented).toEqual(['rt-alice']);
    await manager.dispose();
  });

  it('at maxSessions with every slot mid-refresh, a newly loaded session serves its request: the bound is exceeded, not the request failed', async () => {
    const { manager, stores, presented, signIn } = setup({ maxSessions: 1 });
    signIn('alice', Date.now() - 1);
    signIn('bob');
    // Alice's request leaves while her refresh (50 ms) is in flight: her slot is unpinned but not droppable.
    const controller = new AbortController();
    const aborted = manager.getValidAccessToken('alice', { signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    await aborted;
    // Bob is loaded past the bound: the only droppable session is his own, which his request is about to use.
    const bob = manager.getValidAccessToken('bob').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(0);
    expect(await bob).toBe('at-bob');
    await vi.advanceTimersByTimeAsync(100);
    // Back under the bound once the refresh is done, and Alice's rotation was kept.
    expect(manager.size).toBeLessThanOrEqual(1);
    expect((await stores.get('alice')!.get())?.refreshToken).toBe('rt-new-1');
    expect(presented).toEqual(['rt-alice']);
    await manager.dispose();
  });

  it('a store that never answers: the load, login(id) and logout(id) settle within storeTimeoutMs with STORE_UNAVAILABLE, and what waits behind them too', async () => {
    const backing = memoryStore({ accessToken: 'at-old', refreshToken: 'rt-old', expiresAt: Date.now() + 3600_000 });
    let hang = true;
    const never = new Promise<never>(() => undefined);
    const store: TokenStore = {
      get: () => (hang ? never : backing.get()),
      set: (tokens, options) => (hang ? never : backing.set(tokens, options)),
      clear: () => (hang ? never : backing.clear()),
    };
    const manager = createSessionManager({ refresh: async () => ({ accessToken: 'x' }), store: () => store, session: { wake: false, storeTimeoutMs: 1_000 } });
    const settled = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: unknown) => (isAuthchartError(e) ? (e as { code: string }).code : String(e)),
      );
    const out = settled(manager.logout('alice'));
    const load = settled(manager.getValidAccessToken('alice'));
    const signIn = settled(manager.login('bob', { accessToken: 'at-bob', refreshToken: 'rt-bob' }));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await out).toBe('STORE_UNAVAILABLE');
    expect(await signIn).toBe('STORE_UNAVAILABLE');
    // The load waited for the logout's turn, then its own read was bounded too.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await load).toBe('STORE_UNAVAILABLE');
    // Once the store answers again, so does the manager.
    hang = false;
    expect(await manager.getValidAccessToken('alice')).toBe('at-old');
    await manager.dispose();
  });

  it('logout(id) while a load of that id is in flight: no old access token is served afterwards', async () => {
    const backing = memoryStore({ accessToken: 'at-old', refreshToken: 'rt-old', expiresAt: Date.now() + 3600_000 });
    const manager = createSessionManager({ refresh: async () => ({ accessToken: 'x' }), store: () => slowStore(backing, 50), session: { wake: false } });
    const loading = manager.getValidAccessToken('alice').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    const out = manager.logout('alice');
    await vi.advanceTimersByTimeAsync(100);
    await out;
    await loading;
    const after = manager.getValidAccessToken('alice').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(isAuthchartError(await after, 'SESSION_EXPIRED')).toBe(true);
    expect(backing.get()).toBeNull();
    await manager.dispose();
  });

  it('login(id) while a load of that id is in flight: the new tokens are served afterwards', async () => {
    const backing = memoryStore({ accessToken: 'at-old', refreshToken: 'rt-old', expiresAt: Date.now() + 3600_000 });
    const manager = createSessionManager({ refresh: async () => ({ accessToken: 'x' }), store: () => slowStore(backing, 50), session: { wake: false } });
    const loading = manager.getValidAccessToken('alice');
    await vi.advanceTimersByTimeAsync(10);
    const signedIn = manager.login('alice', { accessToken: 'at-new', refreshToken: 'rt-new', expiresAt: Date.now() + 3600_000 });
    await vi.advanceTimersByTimeAsync(100);
    await signedIn;
    await loading;
    const after = manager.getValidAccessToken('alice');
    await vi.advanceTimersByTimeAsync(100);
    expect(await after).toBe('at-new');
    await manager.dispose();
  });
});
