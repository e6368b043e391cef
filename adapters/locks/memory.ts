import { ErrorCode, RefreshError } from '../core/errors.js';
import type { LockHandle, RefreshLock } from '../core/ports.js';

/**
 * A refresh lock inside one process: several sessions that share one store (tests, a
 * stand-in for tabs, several clients of one user in a server) take turns refreshing.
 * Waiters are served first come, first served; a waiter leaves when its `signal` aborts
 * or after `timeoutMs` (a transient `LOCK_TIMEOUT`). Releasing twice is harmless.
 * @example
 * const store = memoryStore()
 * const lock = memoryLock()
 * const tabA = createSession({ refresh, store, lock })
 * const tabB = createSession({ refresh, store, lock })
 */
export function memoryLock(): RefreshLock {
  let held = false;
  const queue: Waiter[] = [];

  interface Waiter {
    signal: AbortSignal;
    grant: () => void;
  }

  const handle = (): LockHandle => {
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        handOver();
      },
    };
  };

  const handOver = () => {
    // A waiter whose signal aborted in the same tick as the release is skipped, so a
    // handle never goes to someone who stopped waiting.
    let next = queue.shift();
    while (next && next.signal.aborted) next = queue.shift();
    if (next) next.grant();
    else held = false;
  };

  return {
    acquire({ signal, timeoutMs }) {
      if (signal.aborted) return Promise.reject(signal.reason);
      if (!held) {
        held = true;
        return Promise.resolve(handle());
      }
      return new Promise<LockHandle>((resolve, reject) => {
        const leave = (error: unknown) => {
          const index = queue.indexOf(waiter);
          if (index === -1) return;
          queue.splice(index, 1);
          cleanup();
          reject(error);
        };
        const onAbort = () => leave(signal.reason);
        const timer = setTimeout(
          () =>
            leave(
              new RefreshError(
                { kind: 'transient', reason: ErrorCode.LOCK_TIMEOUT },
                `The refresh lock was not acquired within ${timeoutMs} ms.`,
                ErrorCode.LOCK_TIMEOUT,
              ),
            ),
          timeoutMs,
        );
        const cleanup = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
        };
        const waiter: Waiter = {
          signal,
          grant: () => {
            cleanup();
            resolve(handle());
          },
        };
        signal.addEventListener('abort', onAbort, { once: true });
        queue.push(waiter);
      });
    },
  };
}
