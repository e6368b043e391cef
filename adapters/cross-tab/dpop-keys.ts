import type { DPoPKeyStore } from '../core/ports.js';
import { generateDPoPKeyPair, isDPoPKeyPair } from '../dpop/keys.js';
import { openDatabase, requestResult } from './idb.js';

export interface IndexedDbDPoPKeysOptions {
  /**
   * Database name (the same database as `indexedDbStore` is fine: the key has its own record).
   * @default 'authchart'
   */
  database?: string;
  /**
   * Key of the key-pair record inside it.
   * @default 'dpop-key'
   */
  key?: string;
  /**
   * The IndexedDB factory.
   * @default globalThis.indexedDB
   */
  indexedDB?: IDBFactory;
}

/**
 * The session's DPoP key pair in IndexedDB, shared by every tab of the origin. The private
 * key is a non-extractable `CryptoKey`: IndexedDB stores the key object itself, so no
 * script (an XSS included) can read the key material, only ask the browser to sign with it
 * while the page is open.
 *
 * Creation is race-free without a lock: a tab that finds no key makes a candidate, then in
 * one readwrite transaction (IndexedDB runs them one at a time across tabs) stores it only if
 * the record is still empty; otherwise it takes the key another tab stored first. Every tab
 * therefore signs with the same key, which a DPoP-bound refresh token requires.
 * @example
 * import { crossTab, indexedDbDPoPKeys } from 'authchart/cross-tab'
 * const authFetch = createAuthFetch({ refresh, ...crossTab(), dpop: indexedDbDPoPKeys() })
 */
export function indexedDbDPoPKeys(options: IndexedDbDPoPKeysOptions = {}): DPoPKeyStore {
  const key = options.key ?? 'dpop-key';
  const db = openDatabase(options.database ?? 'authchart', () => options.indexedDB ?? globalThis.indexedDB);
  const read = async (): Promise<CryptoKeyPair | null> => {
    const stored = await db.transaction('readonly', (store) => requestResult(store.get(key)));
    return isDPoPKeyPair(stored) ? stored : null;
  };
  const put = async (candidate: CryptoKeyPair, onlyIfEmpty: boolean): Promise<CryptoKeyPair> =>
    db.transaction('readwrite', async (store) => {
      if (onlyIfEmpty) {
        const current: unknown = await requestResult(store.get(key));
        if (isDPoPKeyPair(current)) return current;
      }
      store.put({ privateKey: candidate.privateKey, publicKey: candidate.publicKey }, key);
      return candidate;
    });
  return {
    async getOrCreate() {
      const existing = await read();
      if (existing) return existing;
      // Generating is asynchronous, so it cannot happen inside the transaction (it would
      // commit meanwhile): make a candidate first, then compare-and-set it.
      return put(await generateDPoPKeyPair(), true);
    },
    async rotate() {
      return put(await generateDPoPKeyPair(), false);
    },
    clear: () =>
      db.transaction('readwrite', (store) => {
        store.delete(key);
      }),
  };
}
