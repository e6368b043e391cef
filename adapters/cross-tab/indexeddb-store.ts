import type { StoredTokens, TokenStore } from '../core/ports.js';
import { pickTokens, serializeRecord, validateRecord } from '../core/record.js';
import { openDatabase, requestResult } from './idb.js';

export interface IndexedDbStoreOptions {
  /**
   * Database name.
   * @default 'authchart'
   */
  database?: string;
  /**
   * Key of the token record inside it.
   * @default 'tokens'
   */
  key?: string;
  /**
   * The IndexedDB factory.
   * @default globalThis.indexedDB
   */
  indexedDB?: IDBFactory;
}

/**
 * Tokens in IndexedDB: one record with a version, written in one transaction
 * (compare-and-set included), so a tab never reads a new access token with an old refresh
 * token. Unlike Web Storage, a read inside the refresh lock sees the last write of the tab
 * that held the lock before (Web Storage was stale in up to half of such handoffs in
 * Chromium): this is the store the cross-tab double-check relies on. The version counter
 * survives `clear()`, so an old version never matches again. Corrupt data reads as "no
 * tokens"; IndexedDB failing is an error (a refresh then counts it as transient), never a
 * logout.
 * @example
 * const store = indexedDbStore({ database: 'myapp' })
 */
export function indexedDbStore(options: IndexedDbStoreOptions = {}): TokenStore {
  const key = options.key ?? 'tokens';
  const counterKey = `${key}:version`;
  const db = openDatabase(options.database ?? 'authchart', () => options.indexedDB ?? globalThis.indexedDB);
  return {
    get: () => db.transaction('readonly', async (store) => validateRecord(await requestResult(store.get(key)))),
    set: (tokens, setOptions) =>
      db.transaction('readwrite', async (store) => {
        const [raw, counter] = await Promise.all([requestResult(store.get(key)), requestResult(store.get(counterKey))]);
        const current = validateRecord(raw);
        const expected = setOptions?.expectedVersion;
        if (expected !== undefined && (current?.version ?? 0) !== expected) return null;
        const version = Math.max(typeof counter === 'number' ? counter : 0, current?.version ?? 0) + 1;
        const record: StoredTokens = { ...pickTokens(tokens), version };
        store.put(serializeRecord(record), key);
        store.put(version, counterKey);
        return record;
      }),
    clear: () =>
      db.transaction('readwrite', (store) => {
        store.delete(key);
      }),
  };
}
