import type { LockHandle, RefreshLock } from '../core/ports.js';
import { openDatabase, requestResult } from './idb.js';
import { lockTimeoutError } from '../core/errors.js';

export interface LeaseLockOptions {
  /**
   * Database holding the lease record.
   * @default 'authchart'
   */
  database?: string;
  /**
   * The lease's name.
   * @default 'authchart.refresh'
   */
  name?: string;
  /**
   * How long a lease lasts unless renewed; a tab that dies holding it blocks the others
   * at most this long.
   * @default 15000
   */
  leaseMs?: number;
  /**
   * How often a waiting tab looks again (it is also woken when the holder releases).
   * @default 50
   */
  pollMs?: number;
  /** @default globalThis.indexedDB */
  indexedDB?: IDBFactory;
}

interface Lease {
  owner: string;
  expiresAt: number;
}

function isLease(value: unknown): value is Lease {
  return typeof value === 'object' && value !== null && typeof (value as Lease).owner === 'string' && typeof (value as Lease).expiresAt === 'number';
}

function newOwner(): string {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The fallback refresh lock where Web Locks are missing (older Safari, some webviews): a
 * lease record in IndexedDB, taken and released in IndexedDB transactions, which the
 * browser serialises across tabs, so two tabs can never both take it. A lease expires
 * after `leaseMs` unless the holder renews it (it does, every third of that, while its
 * refresh runs), so a closed or crashed holder delays the others by at most `leaseMs`.
 * Waiters poll every `pollMs` and are woken early by a BroadcastChannel message on release.
 * @example
 * const lock = leaseLock({ leaseMs: 10_000 })
 */
export function leaseLock(options: LeaseLockOptions = {}): RefreshLock {
  const name = options.name ?? 'authchart.refresh';
  const key = `lease:${name}`;
  const leaseMs = options.leaseMs ?? 15_000;
  const pollMs = options.pollMs ?? 50;
  const db = openDatabase(options.database ?? 'authchart', () => options.indexedDB ?? globalThis.indexedDB);
  const channelName = `authchart.lease:${name}`;

  const tryTake = (owner: string) =>
    db.transaction('readwrite', async (store) => {
      const current = await requestResult(store.get(key));
      if (isLease(current) && current.owner !== owner && current.expiresAt > Date.now()) return false;
      store.put({ owner, expiresAt: Date.now() + leaseMs } satisfies Lease, key);
      return true;
    });
  const renew = (owner: string) =>
    db.transaction('readwrite', async (store) => {
      const current = await requestResult(store.get(key));
      if (isLease(current) && current.owner === owner) store.put({ owner, expiresAt: Date.now() + leaseMs } satisfies Lease, key);
    });
  const giveBack = (owner: string) =>
    db.transaction('readwrite', async (store) => {
      const current = await requestResult(store.get(key));
      if (isLease(current) && current.owner === owner) store.delete(key);
    });

  return {
    async acquire({ signal, timeoutMs }) {
      const owner = newOwner();
      const deadline = Date.now() + timeoutMs;
      const channel = typeof BroadcastChannel !== 'undefined' ? new BroadcastChannel(channelName) : undefined;
      let wake: (() => void) | undefined;
      if (channel) channel.onmessage = () => wake?.();
      try {
        for (;;) {
          if (signal.aborted) throw signal.reason;
          if (await tryTake(owner)) break;
          const left = deadline - Date.now();
          if (left <= 0) throw lockTimeoutError(timeoutMs);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, Math.min(pollMs, left));
            function done() {
              clearTimeout(timer);
              signal.removeEventListener('abort', done);
              wake = undefined;
              resolve();
            }
            wake = done;
            signal.addEventListener('abort', done, { once: true });
          });
        }
      } finally {
        channel?.close();
      }
      const renewal = setInterval(() => void renew(owner).catch(() => undefined), Math.max(1, Math.floor(leaseMs / 3)));
      let released = false;
      const handle: LockHandle = {
        async release() {
          if (released) return;
          released = true;
          clearInterval(renewal);
          await giveBack(owner);
          if (typeof BroadcastChannel !== 'undefined') {
            const announce = new BroadcastChannel(channelName);
            announce.postMessage('released');
            announce.close();
          }
        },
      };
      return handle;
    },
  };
}
