import { lockTimeoutError } from '../core/errors.js';
import { positiveOption } from '../core/options.js';
import type { LockHandle, RefreshLock } from '../core/ports.js';
import { lockLostError } from './lost.js';

/**
 * Options of {@link memoryLock}.
 * @example
 * memoryLock({ maxHoldMs: 30_000 })
 */
export interface MemoryLockOptions {
  /**
   * Longest a handle holds the lock. A handle that is never released (a bug, a refresh that
   * ignores its bound) loses the lock then, as a Redis lock expires, so nothing waits forever;
   * its `signal` aborts.
   * @default 60000
   */
  maxHoldMs?: number;
}

interface Waiter {
  grant: () => void;
}

/**
 * A lock inside one process: first come, first served, with the same contract as the
 * Redis lock (bounded wait, `signal`, owner-only release, a bound on holding). One session
 * does not need it (the statechart is single flight already); it serialises several
 * sessions that share one store in one process, and it is the reference driver of the lock
 * contract tests.
 * @example
 * const store = memoryStore(tokens)
 * const lock = memoryLock()
 * const a = createSession({ refresh, store, lock })
 * const b = createSession({ refresh, store, lock })
 */
export function memoryLock(options: MemoryLockOptions = {}): RefreshLock {
  const maxHoldMs = positiveOption('maxHoldMs', options.maxHoldMs, 60_000, 'number of milliseconds');
  let holder: object | null = null;
  const queue: Waiter[] = [];

  const grantNext = () => {
    holder = null;
    queue.shift()?.grant();
  };
  const hold = (): LockHandle => {
    const token = {};
    holder = token;
    const lost = new AbortController();
    const expiry = setTimeout(() => {
      if (holder !== token) return;
      lost.abort(lockLostError(`held past maxHoldMs, ${maxHoldMs} ms`));
      grantNext();
    }, maxHoldMs);
    (expiry as { unref?: () => void }).unref?.();
    return {
      signal: lost.signal,
      release() {
        clearTimeout(expiry);
        // Only the holder releases: a stale handle (expired, released already) changes nothing.
        if (holder === token) grantNext();
      },
    };
  };

  return {
    acquire({ signal, timeoutMs }) {
      if (signal.aborted) return Promise.reject(signal.reason);
      if (holder === null && queue.length === 0) return Promise.resolve(hold());
      return new Promise<LockHandle>((resolve, reject) => {
        const leave = (error: unknown) => {
          const index = queue.indexOf(waiter);
          if (index >= 0) queue.splice(index, 1);
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          reject(error);
        };
        const onAbort = () => leave(signal.reason);
        const timer = setTimeout(() => leave(lockTimeoutError(timeoutMs)), timeoutMs);
        const waiter: Waiter = {
          grant: () => {
            clearTimeout(timer);
            signal.removeEventListener('abort', onAbort);
            resolve(hold());
          },
        };
        signal.addEventListener('abort', onAbort, { once: true });
        queue.push(waiter);
      });
    },
  };
}
