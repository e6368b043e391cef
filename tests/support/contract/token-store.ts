/**
 * The TokenStore contract: one suite, run against every driver (memory, Web Storage,
 * IndexedDB, broadcastStore, Redis with node-redis and ioredis, and IndexedDB in real
 * Chromium through the page). A driver gives a store of a fresh session, a second handle on
 * the same record (another tab or instance; a driver with only one handle returns the same
 * object) and a store of another session.
 *
 * What a driver cannot do is declared in `capabilities`, never by a second, weaker suite.
 * Every flag is optional and its default is the full contract, so a driver written before a
 * flag existed runs exactly the tests it ran then, plus any added for every driver.
 */
import { describe, expect, it } from 'vitest';
import type { TokenStore } from '../../../adapters/core/ports.js';

export interface TokenStoreCapabilities {
  /**
   * `subscribe` hears writes and clears made through `peer`. Declare `false` for a driver
   * that has no `subscribe`, or whose `subscribe` cannot hear `peer` in this setup (Web
   * Storage's `storage` event reaches other windows only): the subscribe test is not run.
   * @default true
   */
  subscribe?: boolean;
  /**
   * `get`, `set` and `clear` answer synchronously (memory, Web Storage), which lets a session
   * read the store at creation without waiting: `true` checks they return plain values,
   * `false` checks they return promises; leave it out when a proxy decides (through a page).
   * @default undefined
   */
  sync?: boolean;
}

export interface TokenStoreDriver {
  name: string;
  create(): Promise<{ store: TokenStore; peer: TokenStore; other: TokenStore }>;
  capabilities?: TokenStoreCapabilities;
}

const tokens = (n: number) => ({ accessToken: `at-${n}`, refreshToken: `rt-${n}`, expiresAt: 1_900_000_000_000 + n });

/** Resolve when `check` is true, polling; fail after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const isThenable = (value: unknown) => typeof (value as { then?: unknown } | null)?.then === 'function';

export function describeTokenStoreContract(driver: TokenStoreDriver): void {
  const can = { subscribe: true, ...driver.capabilities };
  describe(`TokenStore contract: ${driver.name}`, () => {
    it('an empty session has no tokens', async () => {
      const { store } = await driver.create();
      expect(await store.get()).toBeNull();
    });

    it('a written record reads back whole, with a version', async () => {
      const { store, peer } = await driver.create();
      const written = await store.set(tokens(1));
      expect(written).toEqual({ ...tokens(1), version: expect.any(Number) });
      expect(written!.version).toBeGreaterThan(0);
      expect(await store.get()).toEqual(written);
      expect(await peer.get()).toEqual(written);
    });

    it('optional fields stay absent, and only token fields are stored', async () => {
      const { store } = await driver.create();
      await store.set({ accessToken: 'only-access', extra: 'not a token field' } as never);
      const record = await store.get();
      expect(record).toEqual({ accessToken: 'only-access', version: expect.any(Number) });
    });

    it('every write gets a higher version', async () => {
      const { store, peer } = await driver.create();
      const a = await store.set(tokens(1));
      const b = await peer.set(tokens(2));
      const c = await store.set(tokens(3));
      expect(b!.version).toBeGreaterThan(a!.version);
      expect(c!.version).toBeGreaterThan(b!.version);
      expect(await peer.get()).toEqual(c);
    });

    it('compare-and-set writes when the version still matches', async () => {
      const { store, peer } = await driver.create();
      const first = await store.set(tokens(1));
      const second = await peer.set(tokens(2), { expectedVersion: first!.version });
      expect(second).toEqual({ ...tokens(2), version: expect.any(Number) });
      expect(second!.version).toBeGreaterThan(first!.version);
      expect(await store.get()).toEqual(second);
    });

    it('compare-and-set refuses a stale version and changes nothing', async () => {
      const { store, peer } = await driver.create();
      const first = await store.set(tokens(1));
      const second = await peer.set(tokens(2));
      expect(await store.set(tokens(3), { expectedVersion: first!.version })).toBeNull();
      expect(await store.get()).toEqual(second);
    });

    it('expectedVersion 0 writes only into an empty session, and any other version is refused there', async () => {
      const { store, peer } = await driver.create();
      expect(await store.set(tokens(1), { expectedVersion: 7 })).toBeNull();
      expect(await store.get()).toBeNull();
      const first = await store.set(tokens(1), { expectedVersion: 0 });
      expect(first).not.toBeNull();
      expect(await peer.set(tokens(2), { expectedVersion: 0 })).toBeNull();
      expect(await store.get()).toEqual(first);
    });

    it('of concurrent compare-and-sets on one version exactly one wins', async () => {
      const { store, peer } = await driver.create();
      const base = await store.set(tokens(0));
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? peer : store).set(tokens(i + 1), { expectedVersion: base!.version })));
      const winners = results.filter((r) => r !== null);
      expect(winners).toHaveLength(1);
      expect(await store.get()).toEqual(winners[0]);
    });

    it('clear removes the record, and a version from before never matches again', async () => {
      const { store, peer } = await driver.create();
      const before = await store.set(tokens(1));
      await peer.clear();
      expect(await store.get()).toBeNull();
      expect(await peer.get()).toBeNull();
      const after = await store.set(tokens(2));
      expect(after!.version).toBeGreaterThan(before!.version);
      expect(await peer.set(tokens(3), { expectedVersion: before!.version })).toBeNull();
      expect(await store.get()).toEqual(after);
    });

    // A refresh that started before a logout and a new login (in another tab) holds the old
    // version: if the new login could be written with that version again, the old refresh
    // would overwrite the new user's tokens.
    it('after a clear, a handle that never saw the old record still writes a newer version', async () => {
      const { store, peer } = await driver.create();
      await store.set(tokens(1));
      const before = await store.set(tokens(2));
      await store.clear();
      const fresh = await peer.set(tokens(3));
      expect(fresh!.version).toBeGreaterThan(before!.version);
      expect(await store.set(tokens(4), { expectedVersion: before!.version })).toBeNull();
      expect(await peer.get()).toEqual(fresh);
    });

    it('sessions never see each other’s tokens', async () => {
      const { store, other } = await driver.create();
      await store.set(tokens(1));
      expect(await other.get()).toBeNull();
      await other.set(tokens(2));
      await other.clear();
      expect(await store.get()).toEqual({ ...tokens(1), version: expect.any(Number) });
    });

    if (can.subscribe) {
      it('subscribe hears writes and clears made through another handle, until unsubscribed', async () => {
        const { store, peer } = await driver.create();
        expect(typeof store.subscribe).toBe('function');
        let heard = 0;
        const unsubscribe = store.subscribe!(() => heard++);
        // The subscription is set up asynchronously (SUBSCRIBE, SSUBSCRIBE on a Cluster, LISTEN),
        // and may take a while on a busy machine: write until one write is heard (10 s at most).
        const until = Date.now() + 10_000;
        for (let n = 1; heard === 0 && Date.now() < until; n++) {
          await peer.set(tokens(n));
          await eventually(() => heard >= 1, 250).catch(() => undefined);
        }
        expect(heard).toBeGreaterThanOrEqual(1);
        const beforeClear = heard;
        await peer.clear();
        await eventually(() => heard > beforeClear, 5_000);
        unsubscribe();
        const count = heard;
        await peer.set(tokens(2));
        await new Promise((r) => setTimeout(r, 50));
        expect(heard).toBe(count);
      });
    }

    if (can.sync !== undefined) {
      it(can.sync ? 'get, set and clear answer synchronously' : 'get, set and clear answer with promises', async () => {
        const { store } = await driver.create();
        const answers = [store.set(tokens(1)), store.set(tokens(2), { expectedVersion: 0 }), store.get()];
        const cleared = store.clear();
        for (const answer of [...answers, cleared]) expect(isThenable(answer)).toBe(!can.sync);
        if (can.sync) expect(answers[2]).toEqual({ ...tokens(1), version: expect.any(Number) });
        await Promise.all([...answers, cleared]);
      });
    }
  });
}
