/**
 * `authchart/cross-tab`: one refresh for all the tabs of an origin. A lock so only one tab
 * refreshes (Web Locks, or an IndexedDB lease where they are missing), an IndexedDB token
 * store that is never stale inside the lock, and BroadcastChannel messages so the other
 * tabs adopt the new tokens, log out and log in together.
 */
export { crossTab } from './cross-tab.js';
export type { CrossTabOptions, CrossTab } from './cross-tab.js';
export { indexedDbStore } from './indexeddb-store.js';
export type { IndexedDbStoreOptions } from './indexeddb-store.js';
export { broadcastStore, isChangeMessage } from './broadcast-store.js';
export type { BroadcastStoreOptions, ChangeMessage } from './broadcast-store.js';
export { webLocksLock } from './web-locks.js';
export type { WebLocksLockOptions } from './web-locks.js';
export { leaseLock } from './lease-lock.js';
export { indexedDbDPoPKeys } from './dpop-keys.js';
export type { IndexedDbDPoPKeysOptions } from './dpop-keys.js';
export type { LeaseLockOptions } from './lease-lock.js';
