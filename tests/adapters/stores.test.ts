import { describe, expect, it } from 'vitest';
import { IDBFactory } from 'fake-indexeddb';
import { indexedDbStore } from '../../adapters/cross-tab/index.js';
import { webStorageStore } from '../../adapters/index.js';

/** A minimal Web Storage, as browsers have it. */
class MapStorage implements Storage {
  private readonly map = new Map<string, string>();
  get length() {
    return this.map.size;
  }
  clear() {
    this.map.clear();
  }
  getItem(key: string) {
    return this.map.get(key) ?? null;
  }
  key(index: number) {
    return [...this.map.keys()][index] ?? null;
  }
  removeItem(key: string) {
    this.map.delete(key);
  }
  setItem(key: string, value: string) {
    this.map.set(key, String(value));
  }
}

// The TokenStore contract for these drivers runs in drivers.contract.test.ts.

describe('webStorageStore reads defensively', () => {
  const corrupt: [string, string][] = [
    ['not JSON', '{nope'],
    ['JSON null', 'null'],
    ['an array', '[1,2]'],
    ['a foreign object', JSON.stringify({ token: 'x' })],
    ['another format', JSON.stringify({ format: 2, accessToken: 'a', version: 1 })],
    ['a non-string access token', JSON.stringify({ format: 1, accessToken: 5, version: 1 })],
    ['an empty access token', JSON.stringify({ format: 1, accessToken: '', version: 1 })],
    ['a bad refresh token', JSON.stringify({ format: 1, accessToken: 'a', refreshToken: {}, version: 1 })],
    ['a bad expiry', JSON.stringify({ format: 1, accessToken: 'a', expiresAt: 'soon', version: 1 })],
    ['a bad version', JSON.stringify({ format: 1, accessToken: 'a', version: -1 })],
  ];
  it.each(corrupt)('%s is "no tokens", not a crash', (_name, raw) => {
    const storage = new MapStorage();
    storage.setItem('authchart.tokens', raw);
    const store = webStorageStore({ storage });
    expect(store.get()).toBeNull();
    // And it can be overwritten.
    expect(store.set({ accessToken: 'fresh' })).toMatchObject({ accessToken: 'fresh' });
  });

  it('a storage that throws (private mode, quota, disabled) reads as no tokens', () => {
    const storage = new MapStorage();
    storage.getItem = () => {
      throw new Error('SecurityError');
    };
    expect(webStorageStore({ storage }).get()).toBeNull();
  });

  it('uses the key it is given', () => {
    const storage = new MapStorage();
    webStorageStore({ storage, key: 'app.tokens' }).set({ accessToken: 'a' });
    expect(storage.getItem('app.tokens')).toContain('"accessToken":"a"');
    expect(storage.getItem('authchart.tokens')).toBeNull();
  });
});

describe('indexedDbStore reads defensively', () => {
  it.each([
    ['a foreign object', { token: 'x' }],
    ['a string', 'nope'],
    ['a bad version', { format: 1, accessToken: 'a', version: 0 }],
  ])('%s is "no tokens", not a crash', async (_name, value) => {
    const indexedDB = new IDBFactory();
    const store = indexedDbStore({ indexedDB, database: 'corrupt' });
    await store.set({ accessToken: 'seed' });
    // Write garbage straight into the record.
    await new Promise<void>((resolve, reject) => {
      const open = indexedDB.open('corrupt', 1);
      open.onsuccess = () => {
        const tx = open.result.transaction('records', 'readwrite');
        tx.objectStore('records').put(value, 'tokens');
        tx.oncomplete = () => {
          open.result.close();
          resolve();
        };
        tx.onerror = () => reject(tx.error);
      };
    });
    expect(await store.get()).toBeNull();
    expect(await store.set({ accessToken: 'fresh' })).toMatchObject({ accessToken: 'fresh', version: 2 });
  });
});
