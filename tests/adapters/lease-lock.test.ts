/** The lease-lock loop the shared databases use (Redis, PostgreSQL), over a scripted backend, in fake time. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isAuthchartError } from '../../adapters/core/errors.js';
import { leaseLock, type LeaseBackend } from '../../adapters/server/lease-lock.js';

const timing = { renewIntervalMs: 100, maxHoldMs: 10_000, pollIntervalMs: 50, operationTimeoutMs: 2000 };
const never = () => new AbortController().signal;

/** A backend whose lease is held by someone else, and whose takes answer after `takeMs` (or fail past their bound). */
function heldElsewhere(takeMs: number): LeaseBackend & { takes: number } {
  const backend = {
    takes: 0,
    take: (_owner: string, boundMs: number) =>
      new Promise<{ won: boolean; holderRemainingMs?: number }>((resolve, reject) => {
        backend.takes++;
        if (takeMs > boundMs) setTimeout(() => reject(Object.assign(new Error('store did not answer'), { code: 'STORE_UNAVAILABLE' })), boundMs);
        else setTimeout(() => resolve({ won: false, holderRemainingMs: 60_000 }), takeMs);
      }),
    renew: async () => true,
    release: async () => undefined,
  };
  return backend;
}

describe('leaseLock', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a take cut short by the wait’s own bound is a LOCK_TIMEOUT at that bound, not a store failure', async () => {
    // The store answers in 150 ms; the wait allows 200 ms. The first take says "held"; after a
    // 40 ms poll (jitter pinned to its low end) the second take has 10 ms left, and is cut.
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const backend = heldElsewhere(150);
    const outcome = leaseLock(backend, timing)
      .acquire({ signal: never(), timeoutMs: 200 })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(400);
    const error = await outcome;
    expect(backend.takes).toBe(2);
    expect(isAuthchartError(error, 'LOCK_TIMEOUT')).toBe(true);
  });

  it('a store that does not answer within the full operation bound is the store’s failure', async () => {
    const backend = heldElsewhere(60_000);
    const outcome = leaseLock(backend, timing)
      .acquire({ signal: never(), timeoutMs: 10_000 })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(2100);
    const error = (await outcome) as { code?: string };
    expect(error.code).toBe('STORE_UNAVAILABLE');
  });
});
