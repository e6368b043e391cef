/**
 * The TokenStore contract: the same tests for every driver (memory, Redis with node-redis,
 * Redis with ioredis). A driver gives a store of a fresh session, a second handle on the same
 * record (another tab or instance; the memory driver has only one) and a store of another session.
 */
import { describe, expect, it } from 'vitest';
import type { TokenStore } from '../../../adapters/core/ports.js';

export interface TokenStoreDriver {
  name: string;
  create(): Promise<{ store: TokenStore; peer: TokenStore; other: TokenStore }>;
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

export function describeTokenStoreContract(driver: TokenStoreDriver): void {
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
      expect(await store.get()).toEqual(second);
    });

    it('compare-and-set refuses a stale version and changes nothing', async () => {
      const { store, peer } = await driver.create();
      const first = await store.set(tokens(1));
      const second = await peer.set(tokens(2));
      expect(await store.set(tokens(3), { expectedVersion: first!.version })).toBeNull();
      expect(await store.get()).toEqual(second);
    });

    it('expectedVersion 0 writes only into an empty session', async () => {
      const { store, peer } = await driver.create();
      const first = await store.set(tokens(1), { expectedVersion: 0 });
      expect(first).not.toBeNull();
      expect(await peer.set(tokens(2), { expectedVersion: 0 })).toBeNull();
      expect(await store.get()).toEqual(first);
    });

    it('of concurrent compare-and-sets on one version exactly one wins', async () => {
      const { store, peer } = await driver.create();
      const base = await store.set(tokens(0));
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? peer : store).set(tokens(i + 1), { expectedVersion: base!.version })),
      );
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

    it('sessions never see each other’s tokens', async () => {
      const { store, other } = await driver.create();
      await store.set(tokens(1));
      expect(await other.get()).toBeNull();
      await other.set(tokens(2));
      await other.clear();
      expect(await store.get()).toEqual({ ...tokens(1), version: expect.any(Number) });
    });

    it('subscribe hears writes and clears made through another handle, until unsubscribed', async () => {
      const { store, peer } = await driver.create();
      expect(typeof store.subscribe).toBe('function');
      let heard = 0;
      const unsubscribe = store.subscribe!(() => heard++);
      await new Promise((r) => setTimeout(r, 20)); // the subscription is set up
      await peer.set(tokens(1));
      await eventually(() => heard >= 1);
      await peer.clear();
      await eventually(() => heard >= 2);
      unsubscribe();
      const count = heard;
      await peer.set(tokens(2));
      await new Promise((r) => setTimeout(r, 50));
      expect(heard).toBe(count);
    });
  });
}
