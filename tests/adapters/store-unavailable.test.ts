/** A token store that cannot be read (Redis down) is not "no session". Fake timers. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isAuthchartError } from '../../adapters/core/errors.js';
import { RedisUnavailableError } from '../../adapters/redis/errors.js';
import type { TokenStore } from '../../adapters/core/ports.js';
import { createSession } from '../../adapters/core/session.js';
import { memoryStore } from '../../adapters/stores/memory.js';

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

function flakyStore() {
  const inner = memoryStore({ accessToken: 'at-stored', refreshToken: 'rt-stored', expiresAt: Date.now() + 3600_000 });
  const state = { down: true };
  const guard = async <T>(op: () => T | Promise<T>): Promise<T> => {
    if (state.down) throw new RedisUnavailableError('read tokens');
    return op();
  };
  const store: TokenStore = {
    get: () => guard(() => inner.get()),
    set: (tokens, options) => guard(() => inner.set(tokens, options)),
    clear: () => guard(() => inner.clear()),
  };
  return { store, state };
}

describe('a store that cannot be read at start', () => {
  it('leaves the session signed in; the first request reads the store again and adopts its tokens', async () => {
    const { store, state } = flakyStore();
    const refresh = vi.fn(async () => ({ accessToken: 'never' }));
    const session = createSession({ refresh, store, wake: false });
    await vi.advanceTimersByTimeAsync(0);
    expect(session.getStatus().state).toBe('idle');
    state.down = false;
    const token = session.getAccessToken();
    await vi.advanceTimersByTimeAsync(10);
    expect(await token).toBe('at-stored');
    expect(refresh).not.toHaveBeenCalled();
    await session.dispose();
  });

  it('while it stays unreadable, requests fail with REFRESH_UNAVAILABLE (cause REDIS_UNAVAILABLE) and the session is kept', async () => {
    const { store, state } = flakyStore();
    const refresh = vi.fn(async () => ({ accessToken: 'never' }));
    const session = createSession({ refresh, store, wake: false, backoffBaseMs: 100 });
    const outcome = session.getAccessToken().catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    const error = await outcome;
    expect(isAuthchartError(error, 'REFRESH_UNAVAILABLE')).toBe(true);
    expect(isAuthchartError((error as Error).cause, 'REDIS_UNAVAILABLE')).toBe(true);
    expect(session.getStatus().state).not.toBe('loggedOut');
    // Back: work continues.
    state.down = false;
    const token = session.getAccessToken();
    await vi.advanceTimersByTimeAsync(10);
    expect(await token).toBe('at-stored');
    expect(refresh).not.toHaveBeenCalled();
    await session.dispose();
  });
});
