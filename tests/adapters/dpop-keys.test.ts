/**
 * DPoP key stores: one key pair per session, the same for every tab (IndexedDB, here
 * fake-indexeddb with Node's structured clone of CryptoKey) or every caller of one process
 * (memory); created once even when every tab asks at the same moment; private key never
 * extractable; rotated and forgotten on demand.
 */
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { generateDPoPKeyPair, memoryDPoPKeys, type DPoPKeyStore } from '../../adapters/index.js';
import { indexedDbDPoPKeys } from '../../adapters/cross-tab/index.js';
import { keyThumbprint } from '../support/dpop-proof.js';

const thumbprints = (pairs: CryptoKeyPair[]) => Promise.all(pairs.map(keyThumbprint));

describe('generateDPoPKeyPair', () => {
  it('makes an ES256 (P-256) pair whose private key cannot be exported', async () => {
    const pair = await generateDPoPKeyPair();
    expect(pair.privateKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    expect(pair.privateKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('jwk', pair.privateKey)).rejects.toThrow();
    expect(pair.publicKey.extractable).toBe(true);
  });
});

const drivers: [string, () => { tab: () => DPoPKeyStore }][] = [
  [
    'memoryDPoPKeys (one process)',
    () => {
      const shared = memoryDPoPKeys();
      return { tab: () => shared };
    },
  ],
  [
    'indexedDbDPoPKeys (every tab of an origin)',
    () => {
      const idb = new IDBFactory();
      // Each tab opens its own connection to the same database.
      return { tab: () => indexedDbDPoPKeys({ indexedDB: idb }) };
    },
  ],
];

describe.each(drivers)('%s', (_name, setup) => {
  it('four tabs asking at once get one key pair, created once', async () => {
    const { tab } = setup();
    const tabs = Array.from({ length: 4 }, tab);
    const pairs = await Promise.all(tabs.map((t) => t.getOrCreate()));
    expect(new Set(await thumbprints(pairs)).size).toBe(1);
    // And later calls return that same key.
    expect(await keyThumbprint(await tabs[3]!.getOrCreate())).toBe(await keyThumbprint(pairs[0]!));
    for (const pair of pairs) expect(pair.privateKey.extractable).toBe(false);
  });

  it('rotate() gives every tab the new key pair; clear() forgets it and the next one is new', async () => {
    const { tab } = setup();
    const [a, b] = [tab(), tab()];
    const first = await keyThumbprint(await a.getOrCreate());
    const rotated = await keyThumbprint(await a.rotate());
    expect(rotated).not.toBe(first);
    expect(await keyThumbprint(await b.getOrCreate())).toBe(rotated);
    await b.clear();
    const fresh = await keyThumbprint(await a.getOrCreate());
    expect([first, rotated]).not.toContain(fresh);
  });

  it('a signature made by one tab verifies with the public key another tab holds', async () => {
    const { tab } = setup();
    const [a, b] = await Promise.all([tab().getOrCreate(), tab().getOrCreate()]);
    const data = new TextEncoder().encode('proof');
    const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, a.privateKey, data);
    expect(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, b.publicKey, signature, data)).toBe(true);
  });
});

describe('indexedDbDPoPKeys', () => {
  it('a record that is not a key pair (corrupt, or written by something else) is replaced by a new key pair', async () => {
    const idb = new IDBFactory();
    const keys = indexedDbDPoPKeys({ indexedDB: idb, database: 'app', key: 'k' });
    await keys.getOrCreate();
    await new Promise<void>((resolve, reject) => {
      const open = idb.open('app', 1);
      open.onsuccess = () => {
        const tx = open.result.transaction('records', 'readwrite');
        tx.objectStore('records').put({ privateKey: 'not a key', publicKey: 42 }, 'k');
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      };
    });
    const pair = await indexedDbDPoPKeys({ indexedDB: idb, database: 'app', key: 'k' }).getOrCreate();
    expect(pair.privateKey).toBeInstanceOf(CryptoKey);
  });

  it('shares the database with the token store without touching its record', async () => {
    const idb = new IDBFactory();
    const { indexedDbStore } = await import('../../adapters/cross-tab/index.js');
    const store = indexedDbStore({ indexedDB: idb });
    await store.set({ accessToken: 'at', refreshToken: 'rt' });
    await indexedDbDPoPKeys({ indexedDB: idb }).getOrCreate();
    await indexedDbDPoPKeys({ indexedDB: idb }).clear();
    expect(await store.get()).toMatchObject({ accessToken: 'at', refreshToken: 'rt' });
  });
});
