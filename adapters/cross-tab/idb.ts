/** Small promise helpers over IndexedDB: one database, one object store of records. */

const STORE = 'records';

export interface Database {
  /** Run `work` in one transaction; resolves with its result once the transaction commits. */
  transaction<T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => Promise<T> | T): Promise<T>;
}

/** Turn an IDBRequest into a promise. */
export function requestResult<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/**
 * Open (lazily, once) a database with one object store. Transactions on it are atomic and,
 * across tabs, serialised by the browser: that is what makes compare-and-set and the lease
 * lock correct.
 */
export function openDatabase(name: string, factory: () => IDBFactory | undefined): Database {
  let opening: Promise<IDBDatabase> | undefined;
  const open = () =>
    (opening ??= new Promise<IDBDatabase>((resolve, reject) => {
      const idb = factory();
      if (!idb) {
        reject(new Error('[authchart] IndexedDB is not available here.'));
        return;
      }
      const request = idb.open(name, 1);
      request.onupgradeneeded = () => {
        if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE);
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab upgrading the schema: step aside rather than block it.
        db.onversionchange = () => {
          db.close();
          opening = undefined;
        };
        resolve(db);
      };
      request.onerror = () => {
        opening = undefined;
        reject(request.error);
      };
    }));
  return {
    async transaction(mode, work) {
      const db = await open();
      const tx = db.transaction(STORE, mode);
      const done = new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error ?? new Error('[authchart] IndexedDB transaction aborted.'));
      });
      try {
        const result = await work(tx.objectStore(STORE));
        await done;
        return result;
      } catch (error) {
        try {
          tx.abort();
        } catch {
          // Already finished.
        }
        throw error;
      }
    },
  };
}
