import { describe, expect, it, vi } from 'vitest';
import { memoryStore, type LockHandle, type RefreshLock } from '../../adapters/index.js';
import { createHarness, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

/** A lock that records what happens to it; `grant` decides when acquire resolves. */
function probeLock(grant: (release: () => void) => Promise<void> = async () => {}) {
  const events: string[] = [];
  const lock: RefreshLock = {
    async acquire() {
      events.push('acquire');
      let released = false;
      const handle: LockHandle = {
        release: () => {
          if (!released) events.push('release');
          released = true;
        },
      };
      await grant(() => handle.release());
      events.push('granted');
      return handle;
    },
  };
  return { lock, events };
}

describe('the refresh lock (RefreshLock port)', () => {
  it('is held around the token call and released after success', async () => {
    const { lock, events } = probeLock();
    const { server, authFetch, api } = await createHarness({ client: { lock } });
    server.expireAccessTokens();
    const r = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(200);
    expect((r.value as Response).status).toBe(200);
    expect(events).toEqual(['acquire', 'granted', 'release']);
  });

  it('double-check: when someone refreshed while we waited for the lock, their tokens are adopted and no token call is made', async () => {
    const store = memoryStore();
    let other: { access_token: string; refresh_token: string } | undefined;
    const { lock } = probeLock(async () => {
      // Another tab refreshes and writes the shared store while this one waits.
      other = server.login();
      await store.set({ accessToken: other.access_token, refreshToken: other.refresh_token, expiresAt: Date.now() + 60_000 });
    });
    const { server, authFetch, api } = await createHarness({ client: { lock, store: { get: store.get, set: store.set, clear: store.clear } } });
    server.expireAccessTokens();
    const r = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(200);
    expect((r.value as Response).status).toBe(200);
    expect(server.stats.refreshCalls).toBe(0);
    expect(authFetch.getStatus().lastRefresh).toMatchObject({ outcome: 'ok', source: 'store' });
  });

  it("double-check: tokens that reached the session while it waited for the lock (TOKENS_UPDATED) still count as someone else's refresh", async () => {
    const store = memoryStore(); // notifies the session of writes, as another tab's broadcast would
    const { lock } = probeLock(async () => {
      const other = server.login();
      await store.set({ accessToken: other.access_token, refreshToken: other.refresh_token, expiresAt: Date.now() + 60_000 });
      for (let i = 0; i < 5; i++) await Promise.resolve(); // the session syncs before the lock is granted
      expect(authFetch.getStatus().tokenVersion).toBe(2);
    });
    const { server, authFetch, api } = await createHarness({ client: { lock, store } });
    server.expireAccessTokens();
    const r = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(200);
    expect((r.value as Response).status).toBe(200);
    expect(server.stats.refreshCalls).toBe(0);
  });

  it('a lock that is not granted within lockTimeoutMs is a transient LOCK_TIMEOUT; granted later, it is released at once', async () => {
    let grantLate!: () => void;
    const { lock, events } = probeLock(() => new Promise<void>((resolve) => (grantLate = resolve)));
    const failures: unknown[] = [];
    const { server, authFetch, api } = await createHarness({ client: { lock, lockTimeoutMs: 2000, maxWaitMs: 60_000 } });
    authFetch.on('refreshFailed', (e) => failures.push(e.failure));
    server.expireAccessTokens();
    track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(100 + 2001);
    expect(failures).toEqual([{ kind: 'transient', code: 'LOCK_TIMEOUT', reason: 'LOCK_TIMEOUT' }]);
    grantLate();
    await vi.advanceTimersByTimeAsync(0);
    expect(events.slice(0, 3)).toEqual(['acquire', 'granted', 'release']);
  });

  it('tokens that reached the session during an attempt that then failed (LOCK_TIMEOUT) are not refreshed again by the retry', async () => {
    // Another instance holds the lock past our bound, refreshes and stores its tokens; we hear
    // them while our attempt waits. The attempt fails, but the session now holds valid tokens
    // someone else's refresh made: the retry must adopt them, not rotate them once more (seen
    // in the 100,000-session bench as 1.028 token calls per session under load).
    const store = memoryStore();
    let attempts = 0;
    const lock: RefreshLock = {
      async acquire() {
        attempts++;
        if (attempts === 1) {
          const other = server.login();
          await store.set({ accessToken: other.access_token, refreshToken: other.refresh_token, expiresAt: Date.now() + 60_000 });
          return new Promise<LockHandle>(() => undefined); // not granted within lockTimeoutMs
        }
        return { release: () => undefined };
      },
    };
    const failures: unknown[] = [];
    const { server, authFetch, api } = await createHarness({ client: { lock, store, lockTimeoutMs: 2000, maxWaitMs: 60_000 } });
    authFetch.on('refreshFailed', (e) => failures.push(e.failure));
    server.expireAccessTokens();
    const r = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(100 + 2001 + 4000);
    expect((r.value as Response).status).toBe(200);
    expect(server.stats.refreshCalls).toBe(0);
    expect(authFetch.getStatus().state).toBe('idle');
  });

  it('dispose() mid-refresh releases the lock', async () => {
    const { lock, events } = probeLock();
    const { server, authFetch, api } = await createHarness({ client: { lock } });
    server.expireAccessTokens();
    server.fault({ type: 'delay', ms: 5000 });
    track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(200);
    expect(events).toEqual(['acquire', 'granted']);
    await authFetch.dispose();
    await vi.advanceTimersByTimeAsync(0);
    expect(events).toEqual(['acquire', 'granted', 'release']);
  });
});
