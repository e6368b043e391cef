/**
 * Every in-process and IndexedDB driver against its port's one contract suite (Node:
 * fake-indexeddb, Node's BroadcastChannel, happy-dom's Storage). The same suites run against
 * Redis (tests/redis/) and, in real Chromium, IndexedDB, the lease and Web Locks
 * (tests/browser/contract.test.ts).
 */
import { IDBFactory } from 'fake-indexeddb';
import { Window } from 'happy-dom';
import { afterAll } from 'vitest';
import { broadcastStore, indexedDbStore, leaseLock } from '../../adapters/cross-tab/index.js';
import { memoryLock } from '../../adapters/locks/memory.js';
import { memoryStore } from '../../adapters/stores/memory.js';
import { webStorageStore } from '../../adapters/stores/web-storage.js';
import { describeRefreshLockContract } from '../support/contract/refresh-lock.js';
import { describeTokenStoreContract } from '../support/contract/token-store.js';

let unique = 0;
const name = (what: string) => `contract-${what}-${++unique}`;

describeTokenStoreContract({
  name: 'memory',
  capabilities: { sync: true },
  async create() {
    const store = memoryStore();
    return { store, peer: store, other: memoryStore() };
  },
});

// One happy-dom window: its localStorage is a Storage as browsers implement it. Handles in one
// window hear no `storage` event from each other (browsers fire it in other windows only);
// real tabs with localStorage are the cross-tab suite's subject.
const window = new Window();
afterAll(() => window.close());
describeTokenStoreContract({
  name: 'web storage (happy-dom localStorage)',
  capabilities: { sync: true, subscribe: false },
  async create() {
    const key = name('web-storage');
    const storage = window.localStorage as unknown as Storage;
    return {
      store: webStorageStore({ storage, key }),
      peer: webStorageStore({ storage, key }),
      other: webStorageStore({ storage, key: `${key}-other` }),
    };
  },
});

describeTokenStoreContract({
  name: 'IndexedDB (fake-indexeddb)',
  capabilities: { sync: false, subscribe: false },
  async create() {
    const indexedDB = new IDBFactory();
    const database = name('idb');
    return {
      store: indexedDbStore({ indexedDB, database }),
      peer: indexedDbStore({ indexedDB, database }),
      other: indexedDbStore({ indexedDB, database, key: 'other' }),
    };
  },
});

describeTokenStoreContract({
  name: 'broadcastStore(IndexedDB) (fake-indexeddb, Node BroadcastChannel)',
  capabilities: { sync: false },
  async create() {
    const indexedDB = new IDBFactory();
    const database = name('broadcast');
    const channel = `${database}.tokens`;
    return {
      store: broadcastStore(indexedDbStore({ indexedDB, database }), { channel }),
      peer: broadcastStore(indexedDbStore({ indexedDB, database }), { channel }),
      other: broadcastStore(indexedDbStore({ indexedDB, database, key: 'other' }), { channel: `${channel}-other` }),
    };
  },
});

describeRefreshLockContract({
  name: 'memory',
  capabilities: { lossSignal: true },
  async create({ maxHoldMs }) {
    const lock = memoryLock({ maxHoldMs });
    return { lock, peer: lock };
  },
});

describeRefreshLockContract({
  name: 'lease (fake-indexeddb, Node BroadcastChannel)',
  capabilities: { lossSignal: true },
  async create({ maxHoldMs }) {
    const indexedDB = new IDBFactory();
    const options = { indexedDB, database: name('lease'), name: 'refresh', maxHoldMs };
    return { lock: leaseLock(options), peer: leaseLock(options) };
  },
});
