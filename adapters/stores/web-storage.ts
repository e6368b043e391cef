import type { StoredTokens, TokenSet, TokenStore } from '../core/ports.js';
import { pickTokens } from './memory.js';

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

/** Format tag of a stored record, shared by the stores that serialise one. */
export const RECORD_FORMAT = 1;

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
  // The highest version written, kept beside the record and across clear(), so that a
  // version from before a logout never matches again, even for a tab that never saw it.
  const counterKey = `${key}:version`;
  let lastVersion = 0;
  const storedCounter = () => {
    try {
      const value = Number(storage().getItem(counterKey));
      return Number.isSafeInteger(value) && value > 0 ? value : 0;
    } catch {
      return 0;
    }
  };
  return {
    get: read,
    set(tokens, setOptions) {
      const current = read();
      const expected = setOptions?.expectedVersion;
      if (expected !== undefined && (current?.version ?? 0) !== expected) return null;
      lastVersion = Math.max(lastVersion, storedCounter(), current?.version ?? 0) + 1;
      const record: StoredTokens = { ...pickTokens(tokens), version: lastVersion };
      storage().setItem(key, JSON.stringify(serializeRecord(record)));
      storage().setItem(counterKey, String(lastVersion));
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

/** Validate a stored JSON record; anything unexpected is null. */
export function parseRecord(raw: string | null): StoredTokens | null {
  if (raw === null) return null;
  try {
    return validateRecord(JSON.parse(raw));
  } catch {
    return null;
  }
}

/** The stored form of a record (what `validateRecord` accepts back). */
export function serializeRecord(record: StoredTokens): Record<string, unknown> {
  return { format: RECORD_FORMAT, ...record };
}

/** Validate a stored record object; anything unexpected is null. */
export function validateRecord(value: unknown): StoredTokens | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.format !== RECORD_FORMAT) return null;
  if (typeof v.accessToken !== 'string' || v.accessToken === '') return null;
  if (v.refreshToken !== undefined && typeof v.refreshToken !== 'string') return null;
  if (v.expiresAt !== undefined && !(typeof v.expiresAt === 'number' && Number.isFinite(v.expiresAt))) return null;
  if (!(typeof v.version === 'number' && Number.isInteger(v.version) && v.version > 0)) return null;
  const record: StoredTokens = { accessToken: v.accessToken, version: v.version };
  if (typeof v.refreshToken === 'string') record.refreshToken = v.refreshToken;
  if (typeof v.expiresAt === 'number') record.expiresAt = v.expiresAt;
  return record;
}
