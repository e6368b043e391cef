import type { StoredTokens, TokenStore } from '../core/ports.js';
import { parseRecord, pickTokens, serializeRecord } from '../core/record.js';

export interface WebStorageStoreOptions {
  /**
   * The Storage to use.
   * @default globalThis.localStorage
   */
  storage?: Storage;
  /**
   * The key of the one record.
   * @default 'authchart.tokens'
   */
  key?: string;
}

/**
 * Tokens in Web Storage (`localStorage` by default), as one JSON record with a version.
 * What is stored is validated on every read: corrupt or foreign data counts as "no
 * tokens", never a crash. `subscribe` reports writes made by other tabs (`storage` event).
 *
 * Web Storage is not kept consistent across tab processes (a tab can read an old value
 * right after another tab wrote); do not rely on it alone for a cross-tab double-check.
 * @example
 * const store = webStorageStore({ storage: sessionStorage, key: 'myapp.tokens' })
 */
export function webStorageStore(options: WebStorageStoreOptions = {}): TokenStore {
  const key = options.key ?? 'authchart.tokens';
  const storage = () => options.storage ?? globalThis.localStorage;
  const read = (): StoredTokens | null => {
    try {
      return parseRecord(storage().getItem(key));
    } catch {
      return null;
    }
  };
  // The highest version this store object has seen, so versions keep increasing across clear().
  let lastVersion = 0;
  return {
    get: read,
    set(tokens, setOptions) {
      const current = read();
      lastVersion = Math.max(lastVersion, current?.version ?? 0);
      const expected = setOptions?.expectedVersion;
      if (expected !== undefined && (current?.version ?? 0) !== expected) return null;
      const record: StoredTokens = { ...pickTokens(tokens), version: ++lastVersion };
      storage().setItem(key, JSON.stringify(serializeRecord(record)));
      return record;
    },
    clear() {
      storage().removeItem(key);
    },
    subscribe(listener) {
      const target = globalThis as unknown as Partial<Pick<Window, 'addEventListener' | 'removeEventListener'>>;
      if (typeof target.addEventListener !== 'function' || typeof target.removeEventListener !== 'function') return () => {};
      const onStorage = (event: StorageEvent) => {
        if (event.key === key || event.key === null) listener();
      };
      target.addEventListener('storage', onStorage);
      return () => target.removeEventListener!('storage', onStorage);
    },
  };
}

// The record format moved to core; kept here for drivers that still import it from this file.
export { RECORD_FORMAT, parseRecord, serializeRecord, validateRecord } from '../core/record.js';
