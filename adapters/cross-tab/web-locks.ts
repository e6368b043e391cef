import type { LockHandle, RefreshLock } from '../core/ports.js';
import { lockTimeoutError } from '../core/errors.js';

export interface WebLocksLockOptions {
  /**
   * The lock's name; tabs of one origin that use the same name exclude each other.
   * @default 'authchart.refresh'
   */
  name?: string;
  /**
   * The LockManager.
   * @default navigator.locks
   */
  locks?: LockManager;
}

/**
 * A refresh lock across the tabs of one origin, on the Web Locks API. At most one tab
 * refreshes at a time; the others wait (bounded by `timeoutMs`) and, once they hold it,
 * re-read the store and adopt what the first one stored instead of calling the server.
 * The browser releases the lock when the holding tab closes or crashes.
 * @example
 * const lock = webLocksLock({ name: 'myapp.refresh' })
 */
export function webLocksLock(options: WebLocksLockOptions = {}): RefreshLock {
  const name = options.name ?? 'authchart.refresh';
  return {
    acquire({ signal, timeoutMs }) {
      const locks = options.locks ?? (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
      if (!locks) return Promise.reject(new Error('[authchart] the Web Locks API is not available here; use leaseLock() or crossTab().'));
      if (signal.aborted) return Promise.reject(signal.reason);
      return new Promise<LockHandle>((resolve, reject) => {
        const waiting = new AbortController();
        const onAbort = () => waiting.abort(signal.reason);
        const timer = setTimeout(() => waiting.abort(lockTimeoutError(timeoutMs)), timeoutMs);
        signal.addEventListener('abort', onAbort, { once: true });
        const stopWaiting = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
        };
        locks
          .request(name, { mode: 'exclusive', signal: waiting.signal }, () => {
            stopWaiting();
            // Held until release() resolves this promise.
            return new Promise<void>((release) => resolve({ release: () => release() }));
          })
          .catch((error: unknown) => {
            stopWaiting();
            reject(waiting.signal.aborted ? waiting.signal.reason : error);
          });
      });
    },
  };
}
