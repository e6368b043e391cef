/**
 * The RefreshLock contract: one suite, run against every driver (memory, the IndexedDB lease
 * with fake-indexeddb and in real Chromium, Web Locks in real Chromium, Redis with node-redis
 * and ioredis). `lock` and `peer` are two handles on one lock (two tabs or instances; a driver
 * with one handle returns the same object); the driver is created with `maxHoldMs` as given
 * (Redis: lock TTL below it). Browser drivers run through the page (tests/browser/contract.test.ts):
 * the suite stays here, in Node, and each call crosses to the tab that owns the handle.
 *
 * What a driver can or cannot do is declared in `capabilities`; every flag is optional, and a
 * driver that declares none runs the suite it ran before the flags existed.
 * These cross real servers and browsers, so they use real time, in short bounded waits.
 */
import { describe, expect, it } from 'vitest';
import { isAuthchartError } from '../../../adapters/core/errors.js';
import type { LockHandle, RefreshLock } from '../../../adapters/core/ports.js';

export interface RefreshLockCapabilities {
  /**
   * Handles carry `signal` (`LockHandle.signal`), aborted with a transient authchart error
   * when the handle loses the lock without `release()` (past `maxHoldMs`), and not by
   * `release()`. Without it the refresh cannot tell it lost the lock before its token call
   * (the store's compare-and-set still refuses its late write).
   * @default false
   */
  lossSignal?: boolean;
}

export interface RefreshLockDriver {
  name: string;
  /**
   * `ttlMs`, when given, is for drivers whose lock lives in a server with a TTL the holder
   * renews (Redis, PostgreSQL): use it instead of the short TTL they test `maxHoldMs` with.
   * A test passes it when its bound must hold even if the holder's process is not scheduled
   * in time to renew (a busy machine): the server's TTL runs on the server's clock.
   */
  create(options: { maxHoldMs: number; ttlMs?: number }): Promise<{ lock: RefreshLock; peer: RefreshLock }>;
  capabilities?: RefreshLockCapabilities;
}

const never = () => new AbortController().signal;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function track<T>(promise: Promise<T>) {
  const outcome: { settled: boolean; value?: T; error?: unknown; at?: number } = { settled: false };
  promise.then(
    (value) => Object.assign(outcome, { settled: true, value, at: Date.now() }),
    (error) => Object.assign(outcome, { settled: true, error, at: Date.now() }),
  );
  return outcome;
}

export function describeRefreshLockContract(driver: RefreshLockDriver): void {
  const can = { lossSignal: false, ...driver.capabilities };
  describe(`RefreshLock contract: ${driver.name}`, () => {
    it('a free lock is taken at once', async () => {
      const { lock } = await driver.create({ maxHoldMs: 5000 });
      const started = Date.now();
      const handle = await lock.acquire({ signal: never(), timeoutMs: 1000 });
      expect(Date.now() - started).toBeLessThan(200);
      await handle.release();
    });

    it('a second acquirer waits while the lock is held and gets it after the release', async () => {
      const { lock, peer } = await driver.create({ maxHoldMs: 5000 });
      const held = await lock.acquire({ signal: never(), timeoutMs: 1000 });
      const second = track(peer.acquire({ signal: never(), timeoutMs: 3000 }));
      await sleep(150);
      expect(second.settled).toBe(false);
      const releasedAt = Date.now();
      await held.release();
      await expectSettled(second, 1000);
      expect(second.error).toBeUndefined();
      expect(second.at! - releasedAt).toBeLessThan(600);
      await (second.value as LockHandle).release();
    });

    it('waiting gives up after timeoutMs with a LOCK_TIMEOUT error', async () => {
      const { lock, peer } = await driver.create({ maxHoldMs: 5000 });
      const held = await lock.acquire({ signal: never(), timeoutMs: 1000 });
      const started = Date.now();
      const error = await peer.acquire({ signal: never(), timeoutMs: 200 }).catch((e: unknown) => e);
      const waited = Date.now() - started;
      expect(isAuthchartError(error, 'LOCK_TIMEOUT')).toBe(true);
      expect(waited).toBeGreaterThanOrEqual(190);
      expect(waited).toBeLessThan(700);
      await held.release();
    });

    it('an aborted wait stops at once with the abort reason and leaves nothing behind', async () => {
      const { lock, peer } = await driver.create({ maxHoldMs: 5000 });
      const held = await lock.acquire({ signal: never(), timeoutMs: 1000 });
      const controller = new AbortController();
      const waiting = track(peer.acquire({ signal: controller.signal, timeoutMs: 3000 }));
      await sleep(50);
      const reason = new Error('caller went away');
      const abortedAt = Date.now();
      controller.abort(reason);
      await expectSettled(waiting, 500);
      expect(waiting.error).toBe(reason);
      expect(waiting.at! - abortedAt).toBeLessThan(200);
      await held.release();
      // The aborted waiter did not take the lock on its way out.
      const next = await peer.acquire({ signal: never(), timeoutMs: 500 });
      await next.release();
    });

    it('an already aborted signal is refused without waiting', async () => {
      const { lock } = await driver.create({ maxHoldMs: 5000 });
      const controller = new AbortController();
      controller.abort(new Error('gone'));
      await expect(lock.acquire({ signal: controller.signal, timeoutMs: 1000 })).rejects.toThrow('gone');
      const handle = await lock.acquire({ signal: never(), timeoutMs: 500 });
      await handle.release();
    });

    it('release is idempotent, and a former holder cannot release the next holder’s lock', async () => {
      // second must still hold the lock when third asks, however late its renewals run.
      const { lock, peer } = await driver.create({ maxHoldMs: 5000, ttlMs: 3000 });
      const first = await lock.acquire({ signal: never(), timeoutMs: 500 });
      await first.release();
      await first.release();
      const second = await peer.acquire({ signal: never(), timeoutMs: 500 });
      await first.release();
      const third = await lock.acquire({ signal: never(), timeoutMs: 200 }).catch((e: unknown) => e);
      expect(isAuthchartError(third, 'LOCK_TIMEOUT')).toBe(true);
      await second.release();
    });

    it('never two holders at once, and every contender gets its turn', async () => {
      const { lock, peer } = await driver.create({ maxHoldMs: 5000 });
      let holding = 0;
      let most = 0;
      const turns = await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const handle = await (i % 2 ? peer : lock).acquire({ signal: never(), timeoutMs: 5000 });
          holding++;
          most = Math.max(most, holding);
          await sleep(10);
          holding--;
          await handle.release();
          return i;
        }),
      );
      expect(turns).toHaveLength(8);
      expect(most).toBe(1);
    });

    it('a handle that is never released loses the lock after maxHoldMs, so nobody waits forever', async () => {
      // A TTL of maxHoldMs: the lock cannot lapse before 300 ms, even if the holder's process
      // is not scheduled in time to renew it (a busy machine), and lapses by 600 ms at most.
      const { lock, peer } = await driver.create({ maxHoldMs: 300, ttlMs: 300 });
      const started = Date.now();
      await lock.acquire({ signal: never(), timeoutMs: 500 }); // never released
      const next = await peer.acquire({ signal: never(), timeoutMs: 3000 });
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThanOrEqual(280);
      expect(waited).toBeLessThan(1500);
      await next.release();
    });

    it('a handle that lost the lock at maxHoldMs cannot release the next holder’s lock', async () => {
      // A TTL above maxHoldMs: a holder keeps the lock at least that long on the server's
      // clock, however late its process runs to renew it (a busy machine).
      const { lock, peer } = await driver.create({ maxHoldMs: 600, ttlMs: 1000 });
      const first = await lock.acquire({ signal: never(), timeoutMs: 500 });
      const second = await peer.acquire({ signal: never(), timeoutMs: 3000 }); // once first lost it
      const secondAt = Date.now();
      await first.release();
      // Granted when second's own bound runs out (600 ms, or the TTL's 1000 ms), never by
      // first's release, which would grant it at once. Measured from after second's grant:
      // a late measurement only shortens the gap, so 500 leaves room for a busy machine.
      const third = await lock.acquire({ signal: never(), timeoutMs: 3000 });
      expect(Date.now() - secondAt).toBeGreaterThanOrEqual(500);
      await third.release();
      await second.release();
    });

    if (can.lossSignal) {
      it('a handle’s signal aborts with a transient error when it loses the lock, and not on release', async () => {
        // A TTL of maxHoldMs, as above: no early loss from renewals that ran late.
        const { lock, peer } = await driver.create({ maxHoldMs: 300, ttlMs: 300 });
        const released = await lock.acquire({ signal: never(), timeoutMs: 500 });
        expect(released.signal?.aborted).toBe(false);
        await released.release();
        // Measured before asking (the lock is free): a busy event loop can only lengthen it.
        const askedAt = Date.now();
        const kept = await peer.acquire({ signal: never(), timeoutMs: 500 });
        await eventuallyTrue(() => kept.signal!.aborted, 2000);
        expect(Date.now() - askedAt).toBeGreaterThanOrEqual(280);
        expect(isAuthchartError(kept.signal!.reason)).toBe(true);
        expect(kept.signal!.reason).toMatchObject({ kind: 'transient' });
        await sleep(400);
        expect(released.signal!.aborted).toBe(false);
        await kept.release();
      });
    }
  });
}

async function eventuallyTrue(check: () => boolean, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!check() && Date.now() < deadline) await sleep(5);
  expect(check()).toBe(true);
}

async function expectSettled(outcome: { settled: boolean }, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!outcome.settled && Date.now() < deadline) await sleep(5);
  expect(outcome.settled).toBe(true);
}
