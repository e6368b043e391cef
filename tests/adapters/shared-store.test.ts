/**
 * Two sessions on one store and one lock (two tabs, two instances), in one process with
 * the memory drivers and fake timers: the double-check after the lock.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Refresher, TokenStore } from '../../adapters/core/ports.js';
import { createSession } from '../../adapters/core/session.js';
import { memoryLock } from '../../adapters/locks/memory.js';
import { memoryStore } from '../../adapters/stores/memory.js';

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

function rotatingRefresher(delayMs: number) {
  const presented: string[] = [];
  let n = 0;
  const refresh: Refresher = async (refreshToken) => {
    presented.push(refreshToken);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    n++;
    return { accessToken: `at-${n}`, refreshToken: `rt-${n}`, expiresIn: 3600 };
  };
  return { refresh, presented };
}

describe('sessions sharing a store and a lock', () => {
  it('the session that waited for the lock adopts the other’s tokens, even after hearing of them while it waited', async () => {
    const store = memoryStore({ accessToken: 'at-0', refreshToken: 'rt-0', expiresAt: Date.now() - 1 });
    const lock = memoryLock();
    const { refresh, presented } = rotatingRefresher(200);
    const a = createSession({ refresh, store, lock, wake: false });
    const b = createSession({ refresh, store, lock, wake: false });
    const tokens = Promise.all([a.getAccessToken(), b.getAccessToken()]);
    await vi.advanceTimersByTimeAsync(500);
    expect(await tokens).toEqual(['at-1', 'at-1']);
    // One token call: b heard of a's write through subscribe, then took the lock and adopted.
    expect(presented).toEqual(['rt-0']);
    expect(b.getStatus().lastRefresh).toMatchObject({ outcome: 'ok', source: 'store' });
    await Promise.all([a.dispose(), b.dispose()]);
  });

  it('without a shared lock each session refreshes on its own (the lock is what makes it one call)', async () => {
    const store = memoryStore({ accessToken: 'at-0', refreshToken: 'rt-0', expiresAt: Date.now() - 1 });
    const { refresh, presented } = rotatingRefresher(200);
    const a = createSession({ refresh, store, wake: false });
    const b = createSession({ refresh, store, wake: false });
    const tokens = Promise.all([a.getAccessToken(), b.getAccessToken()]).catch(() => null);
    await vi.advanceTimersByTimeAsync(500);
    await tokens;
    expect(presented).toEqual(['rt-0', 'rt-0']);
    await Promise.all([a.dispose(), b.dispose()]);
  });
});

describe('a change another tab makes while this tab writes', () => {
  it("is not taken for the echo of this tab's own write: a sign-out that lands just after its login() signs it out", async () => {
    const shared = memoryStore({ accessToken: 'at-1', refreshToken: 'rt-1', expiresAt: Date.now() + 3600_000 });
    let signOutAfterWrite = false;
    // This tab's view: a write lands at once, its answer comes 20 ms later, and another tab's
    // logout() lands in between (its change notification reaches this tab before the answer).
    const store: TokenStore = {
      get: () => shared.get(),
      set: (tokens, options) => {
        const written = shared.set(tokens, options);
        if (signOutAfterWrite) {
          signOutAfterWrite = false;
          shared.clear();
        }
        return new Promise((resolve) => setTimeout(() => resolve(written), 20));
      },
      clear: () => shared.clear(),
      subscribe: (listener) => shared.subscribe!(listener),
    };
    const session = createSession({ refresh: async () => ({ accessToken: 'never' }), store, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    signOutAfterWrite = true;
    const signedIn = session.login({ accessToken: 'at-2', refreshToken: 'rt-2', expiresAt: Date.now() + 3600_000 });
    await vi.advanceTimersByTimeAsync(100);
    await signedIn;
    // The store is empty: the user signed out last; this tab must not keep serving at-2.
    expect(shared.get()).toBeNull();
    expect(session.getStatus().state).toBe('loggedOut');
    await session.dispose();
  });

  it("a read a change notification asked for, answered after this tab's logout(), does not sign it in again", async () => {
    const shared = memoryStore({ accessToken: 'at-1', refreshToken: 'rt-1', expiresAt: Date.now() + 3600_000 });
    // This tab's reads are answered 20 ms later, with what the store held when they were made;
    // it hears of other tabs' changes only, as over a BroadcastChannel (never its own writes).
    let own = false;
    const mine = <T>(write: () => T): T => {
      own = true;
      try {
        return write();
      } finally {
        own = false;
      }
    };
    const store: TokenStore = {
      get: () => {
        const read = shared.get();
        return new Promise((resolve) => setTimeout(() => resolve(read), 20));
      },
      set: (tokens, options) => mine(() => shared.set(tokens, options)),
      clear: () => mine(() => shared.clear()),
      subscribe: (listener) => shared.subscribe!(() => (own ? undefined : listener())),
    };
    const session = createSession({ refresh: async () => ({ accessToken: 'never' }), store, wake: false });
    await vi.advanceTimersByTimeAsync(50);
    // Another tab signs in anew: this tab is told and reads the store (answer in 20 ms)…
    shared.set({ accessToken: 'at-2', refreshToken: 'rt-2', expiresAt: Date.now() + 3600_000 });
    await vi.advanceTimersByTimeAsync(5);
    // …and the user signs out here before that answer comes back.
    await session.logout();
    await vi.advanceTimersByTimeAsync(100);
    expect(shared.get()).toBeNull();
    expect(session.getStatus().state).toBe('loggedOut');
    await session.dispose();
  });
});
