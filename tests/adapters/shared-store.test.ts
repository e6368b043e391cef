/**
 * Two sessions on one store and one lock (two tabs, two instances), in one process with
 * the memory drivers and fake timers: the double-check after the lock.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Refresher } from '../../adapters/core/ports.js';
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
