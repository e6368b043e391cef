/**
 * login() and logout() called one after the other without waiting: the last one the app
 * called is the session's state, in memory and in the store. Fake timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TokenStore } from '../../adapters/core/ports.js';
import { createSession } from '../../adapters/core/session.js';
import { memoryStore } from '../../adapters/stores/memory.js';

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

const old = () => ({ accessToken: 'at-old', refreshToken: 'rt-old', expiresAt: Date.now() + 3600_000 });
const fresh = () => ({ accessToken: 'at-new', refreshToken: 'rt-new', expiresAt: Date.now() + 3600_000 });

/** A store whose calls answer after `ms` (IndexedDB, Redis). */
function slowStore(inner: TokenStore, ms: number): TokenStore {
  const later = <T>(op: () => T) => new Promise<T>((resolve) => setTimeout(() => resolve(op()), ms));
  return {
    get: () => later(() => inner.get() as never),
    set: (tokens, options) => later(() => inner.set(tokens, options) as never),
    clear: () => later(() => inner.clear() as never),
  };
}

const stores: [string, () => { store: TokenStore; backing: TokenStore }][] = [
  [
    'a synchronous store',
    () => {
      const backing = memoryStore(old());
      return { store: backing, backing };
    },
  ],
  [
    'a store that answers later',
    () => {
      const backing = memoryStore(old());
      return { store: slowStore(backing, 50), backing };
    },
  ],
];

describe.each(stores)('the last of login() and logout() wins, on %s', (_name, make) => {
  it('login() then logout(), not awaited: signed out, the store empty', async () => {
    const { store, backing } = make();
    const session = createSession({ refresh: async () => ({ accessToken: 'never' }), store, wake: false });
    const signedIn = session.login(fresh());
    const signedOut = session.logout();
    await vi.advanceTimersByTimeAsync(1_000);
    await signedIn;
    await signedOut;
    expect(session.getStatus().state).toBe('loggedOut');
    await expect(session.getAccessToken()).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
    expect(backing.get()).toBeNull();
    await session.dispose();
  });

  it('login() then dispose(), not awaited: the sign-in is stored all the same (for the other tabs, the next page)', async () => {
    const { store, backing } = make();
    const session = createSession({ refresh: async () => ({ accessToken: 'never' }), store, wake: false });
    const signedIn = session.login(fresh());
    const disposed = session.dispose();
    await vi.advanceTimersByTimeAsync(1_000);
    await signedIn;
    await disposed;
    expect((backing.get() as { accessToken: string } | null)?.accessToken).toBe('at-new');
  });

  it('logout() then login(), not awaited: signed in with the new tokens, in the store too', async () => {
    const { store, backing } = make();
    const session = createSession({ refresh: async () => ({ accessToken: 'never' }), store, wake: false });
    const signedOut = session.logout();
    const signedIn = session.login(fresh());
    await vi.advanceTimersByTimeAsync(1_000);
    await signedOut;
    await signedIn;
    expect(await session.getAccessToken()).toBe('at-new');
    expect((backing.get() as { accessToken: string } | null)?.accessToken).toBe('at-new');
    await session.dispose();
  });
});
