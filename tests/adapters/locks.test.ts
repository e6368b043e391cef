import { describe, expect, it, vi } from 'vitest';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { ErrorCode, isAuthchartError, memoryLock, memoryStore, type LockHandle, type TokenStore } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, testUrls, tokenServerHandlers } from '../../adapters/testing/index.js';
import { mock, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

const never = () => new AbortController().signal;

describe('memoryLock', () => {
  it('is granted at once when free', async () => {
    const lock = memoryLock();
    await expect(lock.acquire({ signal: never(), timeoutMs: 1000 })).resolves.toHaveProperty('release');
  });

  it('serves waiters first come, first served', async () => {
    const lock = memoryLock();
    const first = await lock.acquire({ signal: never(), timeoutMs: 1000 });
    const order: string[] = [];
    const handles: Record<string, LockHandle> = {};
    for (const name of ['b', 'c', 'd']) {
      void lock.acquire({ signal: never(), timeoutMs: 1000 }).then((handle) => {
        order.push(name);
        handles[name] = handle;
      });
    }
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual([]);
    await first.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(['b']);
    await handles.b!.release();
    await vi.advanceTimersByTimeAsync(0);
    await handles.c!.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(['b', 'c', 'd']);
  });

  it('a waiter not served within timeoutMs is rejected with a transient LOCK_TIMEOUT and leaves the queue', async () => {
    const lock = memoryLock();
    const first = await lock.acquire({ signal: never(), timeoutMs: 1000 });
    const late = track(lock.acquire({ signal: never(), timeoutMs: 500 }));
    const next = track(lock.acquire({ signal: never(), timeoutMs: 5000 }));
    await vi.advanceTimersByTimeAsync(499);
    expect(late.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(isAuthchartError(late.error, ErrorCode.LOCK_TIMEOUT)).toBe(true);
    expect(late.error).toMatchObject({ kind: 'transient', reason: 'LOCK_TIMEOUT' });
    await first.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(next.value).toHaveProperty('release');
  });

  it('an aborted waiter is rejected with the signal reason and the lock goes to the next one', async () => {
    const lock = memoryLock();
    const first = await lock.acquire({ signal: never(), timeoutMs: 1000 });
    const controller = new AbortController();
    const aborted = track(lock.acquire({ signal: controller.signal, timeoutMs: 1000 }));
    const next = track(lock.acquire({ signal: never(), timeoutMs: 1000 }));
    controller.abort(new Error('gone'));
    await vi.advanceTimersByTimeAsync(0);
    expect((aborted.error as Error).message).toBe('gone');
    await first.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(next.value).toHaveProperty('release');
  });

  it('an already aborted signal is rejected without waiting', async () => {
    const lock = memoryLock();
    const controller = new AbortController();
    controller.abort(new Error('before'));
    await expect(lock.acquire({ signal: controller.signal, timeoutMs: 1000 })).rejects.toThrow('before');
  });

  it('releasing twice hands the lock over once', async () => {
    const lock = memoryLock();
    const first = await lock.acquire({ signal: never(), timeoutMs: 1000 });
    const b = track(lock.acquire({ signal: never(), timeoutMs: 1000 }));
    const c = track(lock.acquire({ signal: never(), timeoutMs: 1000 }));
    await first.release();
    await first.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(b.settled).toBe(true);
    expect(c.settled).toBe(false);
  });
});

// The double-check after the lock (docs/design.md, RefreshLock), with sessions that follow the
// shared store while they wait for the lock.
describe('sessions sharing a store and a lock (a stand-in for tabs)', () => {
  it('four sessions sharing one memoryStore and one memoryLock make one token call for one expiry', async () => {
    const server = createTokenServer({ accessTokenTtlSeconds: 3600 });
    mock.use(...tokenServerHandlers(server));
    const login = server.login();
    const store = memoryStore({ accessToken: login.access_token, refreshToken: login.refresh_token });
    const lock = memoryLock();
    const tabs = Array.from({ length: 4 }, () =>
      createAuthFetch({
        refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'tabs' }),
        allowedOrigins: [new URL(testUrls.api).origin],
        store,
        lock,
      }),
    );
    server.expireAccessTokens();
    // A slow token call: every tab is past its debounce window and waits for the lock.
    server.fault({ type: 'delay', ms: 300 });
    const all = track(Promise.all(tabs.flatMap((tab) => [tab(`${testUrls.api}/a`), tab(`${testUrls.api}/b`)])));
    await vi.advanceTimersByTimeAsync(2000);
    expect((all.value as Response[]).map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(tabs.map((tab) => tab.getStatus().state)).toEqual(['idle', 'idle', 'idle', 'idle']);
    // The tabs that waited for the lock found the rotated tokens in the store and adopted them.
    expect(server.calls.map((c) => c.outcome)).toEqual(['rotated']);
    expect(server.isAlive((store.get() as { refreshToken: string }).refreshToken)).toBe(true);
    for (const tab of tabs) await tab.dispose();
  });
});

// R14: a holder that stalls (a frozen tab) loses the lock within a bound, and on resuming
// never presents the refresh token the new holder presented.
describe('a holder that loses the lock before its token call', () => {
  it('makes no token call and adopts what the new holder stored: one rotation, no reuse', async () => {
    const server = createTokenServer({ accessTokenTtlSeconds: 3600 });
    mock.use(...tokenServerHandlers(server));
    const login = server.login();
    const shared = memoryStore({ accessToken: login.access_token, refreshToken: login.refresh_token });
    const lock = memoryLock({ maxHoldMs: 200 });
    // Tab A stalls for 500 ms right after the read it does under the lock, with what it read
    // in hand: a tab frozen between its double-check and its token call.
    let stallNextRead = false;
    const stalling: TokenStore = {
      async get() {
        const record = shared.get();
        if (stallNextRead) {
          stallNextRead = false;
          await new Promise((r) => setTimeout(r, 500));
        }
        return record;
      },
      set: (tokens, options) => shared.set(tokens, options),
      clear: () => shared.clear(),
      subscribe: (listener) => shared.subscribe!(listener),
    };
    const tab = (store: TokenStore) =>
      createAuthFetch({
        refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'tabs' }),
        allowedOrigins: [new URL(testUrls.api).origin],
        store,
        lock,
      });
    const [a, b] = [tab(stalling), tab(shared)];
    await vi.advanceTimersByTimeAsync(0);
    server.expireAccessTokens();
    stallNextRead = true;
    const fromA = track(a(`${testUrls.api}/a`));
    await vi.advanceTimersByTimeAsync(150); // A holds the lock and stalls in its read
    const fromB = track(b(`${testUrls.api}/b`));
    await vi.advanceTimersByTimeAsync(2000);
    expect([(fromA.value as Response).status, (fromB.value as Response).status]).toEqual([200, 200]);
    expect(server.calls.map((c) => c.outcome)).toEqual(['rotated']);
    expect(server.stats.reuseDetected).toBe(0);
    expect(a.getStatus()).toMatchObject({ state: 'idle', lastRefresh: { outcome: 'ok', source: 'store' } });
    expect(server.isAlive((shared.get() as { refreshToken: string }).refreshToken)).toBe(true);
    await Promise.all([a.dispose(), b.dispose()]);
  });
});
