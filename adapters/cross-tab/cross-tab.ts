import type { RefreshLock, TokenStore } from '../core/ports.js';
import { webStorageStore } from '../stores/web-storage.js';
import { broadcastStore } from './broadcast-store.js';
import { indexedDbStore } from './indexeddb-store.js';
import { leaseLock } from './lease-lock.js';
import { webLocksLock } from './web-locks.js';

export interface CrossTabOptions {
  /**
   * A name for this app's tokens: the IndexedDB database, the lock and the channel derive from it.
   * @default 'authchart'
   */
  name?: string;
  /**
   * Passed to the lock chosen ({@link webLocksLock} or {@link leaseLock}): a holding tab that
   * answers no ping (a frozen tab) is taken over after this long.
   * @default 2000
   */
  staleMs?: number;
  /**
   * Passed to the lock chosen: the longest a tab holds it.
   * @default 15000
   */
  maxHoldMs?: number;
}

export interface CrossTab {
  /** IndexedDB (Web Storage where it is missing), announcing writes to the other tabs. */
  store: TokenStore;
  /** Web Locks, or an IndexedDB lease where they are missing; undefined with neither (one tab). */
  lock: RefreshLock | undefined;
  /** Which lock was chosen: `web-locks`, `lease` or `none`. */
  lockKind: 'web-locks' | 'lease' | 'none';
}

/**
 * The store and lock for one refresh across tabs, chosen for this browser.
 * @example
 * const { store, lock } = crossTab({ name: 'myapp' })
 * const authFetch = createAuthFetch({ refresh, store, lock, allowedOrigins: [location.origin] })
 */
export function crossTab(options: CrossTabOptions = {}): CrossTab {
  const name = options.name ?? 'authchart';
  const g = globalThis as { navigator?: { locks?: LockManager }; indexedDB?: IDBFactory };
  const inner = g.indexedDB ? indexedDbStore({ database: name }) : webStorageStore({ key: `${name}.tokens` });
  const store = broadcastStore(inner, { channel: `${name}.tokens` });
  const bounds = { staleMs: options.staleMs, maxHoldMs: options.maxHoldMs };
  const lockName = `${name}.refresh`;
  if (g.navigator?.locks) return { store, lock: webLocksLock({ name: lockName, ...bounds }), lockKind: 'web-locks' };
  if (g.indexedDB) return { store, lock: leaseLock({ database: name, name: lockName, ...bounds }), lockKind: 'lease' };
  return { store, lock: undefined, lockKind: 'none' };
}
