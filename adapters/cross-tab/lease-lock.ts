import type { LockHandle, RefreshLock } from '../core/ports.js';
import { lockTimeoutError } from '../core/errors.js';
import { positiveOption } from '../core/options.js';
import { lockLostError } from '../locks/lost.js';
import { openDatabase, requestResult } from './idb.js';
import {
  HolderWatch,
  isFrozen,
  isLivenessMessage,
  monotonicNow,
  onFreeze,
  openChannel,
  ping,
  post,
  released,
  unlessFrozen,
  watchLifecycle,
} from './liveness.js';

export interface LeaseLockOptions {
  /**
   * Database holding the lease record.
   * @default 'authchart'
   */
  database?: string;
  /**
   * The lease's name.
   * @default 'authchart.refresh'
   */
  name?: string;
  /**
   * A lease that shows no renewal for this long, as a waiting tab watches it, is taken over
   * by that tab: its holder closed, crashed, or is frozen. The holder renews every
   * `heartbeatMs`, and at once when a waiter pings it.
   * @default 2000
   */
  staleMs?: number;
  /** @deprecated Use `staleMs` (the lease is now judged by its renewals, not by a clock). */
  leaseMs?: number;
  /**
   * How often the holder renews its lease.
   * @default staleMs / 3
   */
  heartbeatMs?: number;
  /**
   * Longest this tab holds the lease. Past it the handle gives the lease back and its
   * `signal` aborts. Keep it above what a refresh may take (`refreshTimeoutMs` and two store calls).
   * @default 15000
   */
  maxHoldMs?: number;
  /**
   * How often a waiting tab looks again (it is also woken when the holder releases).
   * @default 50
   */
  pollMs?: number;
  /** @default globalThis.indexedDB */
  indexedDB?: IDBFactory;
}

/**
 * The lease record. `beat` changes on every renewal; `expiresAt` is only for tabs running an
 * older version of this lock, which judged a lease by it.
 */
interface Lease {
  owner: string;
  beat?: number;
  expiresAt: number;
}

function isLease(value: unknown): value is Lease {
  const lease = value as Partial<Lease> | null;
  return typeof lease?.owner === 'string' && typeof lease.expiresAt === 'number';
}

/** What a waiter compares between two looks: the same owner with the same beat is a silent holder. */
const signOfLife = (lease: Lease) => `${lease.owner}:${lease.beat}`;

function newOwner(): string {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The fallback refresh lock where Web Locks are missing (older Safari, some webviews): a
 * lease record in IndexedDB, taken and released in IndexedDB transactions, which the
 * browser serialises across tabs, so two tabs can never both take it. The holder renews the
 * lease every `heartbeatMs` and whenever a waiter pings it; a lease that shows no renewal
 * for `staleMs` (its holder closed, crashed or frozen) is taken over by the waiter watching
 * it, in one transaction, so only one waiter takes it. The former holder learns at its next
 * renewal that it lost the lease (its handle's `signal` aborts). Waiters poll every
 * `pollMs` and are woken early by a BroadcastChannel message on release.
 * @example
 * const lock = leaseLock({ staleMs: 5000 })
 */
export function leaseLock(options: LeaseLockOptions = {}): RefreshLock {
  const name = options.name ?? 'authchart.refresh';
  const key = `lease:${name}`;
  const ms = 'number of milliseconds';
  const staleMs = positiveOption('staleMs', options.staleMs ?? options.leaseMs, 2000, ms);
  const heartbeatMs = positiveOption('heartbeatMs', options.heartbeatMs, Math.max(1, Math.floor(staleMs / 3)), ms);
  const maxHoldMs = positiveOption('maxHoldMs', options.maxHoldMs, 15_000, ms);
  const pollMs = positiveOption('pollMs', options.pollMs, 50, ms);
  const db = openDatabase(options.database ?? 'authchart', () => options.indexedDB ?? globalThis.indexedDB);
  const channelName = `authchart.lease:${name}`;
  watchLifecycle();
  const leaseOf = (owner: string, beat: number): Lease => ({ owner, beat, expiresAt: Date.now() + staleMs });

  /** Take the lease if it is free, or if its holder has been silent for staleMs as `watch` saw it. */
  const tryTake = (owner: string, watch: HolderWatch) =>
    db.transaction('readwrite', async (store) => {
      const current = await requestResult(store.get(key));
      if (isLease(current) && current.owner !== owner) {
        // A lease from an older version of this lock (no beat) is judged as that version did.
        const live = current.beat === undefined ? current.expiresAt > Date.now() : !watch.observe(signOfLife(current));
        if (live) return false;
      }
      store.put(leaseOf(owner, 0), key);
      return true;
    });
  /** Renew the lease; false when it is no longer ours (taken over while this tab was silent). */
  const renew = (owner: string, beat: number) =>
    db.transaction('readwrite', async (store) => {
      const current = await requestResult(store.get(key));
      if (!isLease(current) || current.owner !== owner) return false;
      store.put(leaseOf(owner, beat), key);
      return true;
    });
  const giveBack = (owner: string) =>
    db.transaction('readwrite', async (store) => {
      const current = await requestResult(store.get(key));
      if (isLease(current) && current.owner === owner) store.delete(key);
    });

  const hold = (owner: string): LockHandle => {
    const lost = new AbortController();
    const channel = openChannel(channelName);
    let beat = 0;
    let held = true;
    let renewing = false;
    let lastRenewal = monotonicNow();
    let next: ReturnType<typeof setTimeout> | undefined;
    let expiry: ReturnType<typeof setTimeout> | undefined;
    const stop = () => {
      held = false;
      clearTimeout(next);
      clearTimeout(expiry);
      channel?.close();
      unlistenFreeze();
    };
    const lose = (why: string) => {
      if (!held) return;
      stop();
      lost.abort(lockLostError(why));
    };
    const renewNow = () => {
      if (!held || renewing) return;
      renewing = true;
      lastRenewal = monotonicNow();
      clearTimeout(next);
      renew(owner, ++beat).then(
        (ours) => {
          renewing = false;
          if (!ours) lose('taken over by a tab that found this one silent');
          // Scheduled from the transaction's completion rather than from a timer, so a
          // background tab's chained-timer throttling does not stretch the renewals.
          else if (held) next = setTimeout(renewNow, heartbeatMs);
        },
        () => {
          renewing = false;
          if (held) next = setTimeout(renewNow, heartbeatMs);
        },
      );
    };
    if (channel) {
      channel.onmessage = (event: MessageEvent) => {
        // A waiter asks whether this holder lives: renew now (at most once per poll). A
        // frozen tab (whose messages still arrive) must not: its lease is what goes stale.
        if (isLivenessMessage(event.data, 'ping') && !isFrozen() && monotonicNow() - lastRenewal >= pollMs) renewNow();
      };
    }
    next = setTimeout(renewNow, heartbeatMs);
    // Frozen while holding: a waiter may take the lease over meanwhile; on resuming, the
    // refresh must not present its refresh token (it re-reads the store instead). The lease
    // itself is left alone: a transaction started now could not finish in a frozen tab.
    const unlistenFreeze = onFreeze(() => {
      if (held) lost.abort(lockLostError('this tab was frozen while holding it'));
    });
    expiry = setTimeout(() => {
      if (!held) return;
      lose(`held past maxHoldMs, ${maxHoldMs} ms`);
      void giveBack(owner).then(
        () => announceRelease(),
        () => undefined,
      );
    }, maxHoldMs);
    return {
      signal: lost.signal,
      async release() {
        if (!held) {
          // Lost already: the lease is someone else's (or was given back at maxHoldMs).
          return;
        }
        stop();
        await giveBack(owner);
        announceRelease();
      },
    };
  };
  const announceRelease = () => {
    const announce = openChannel(channelName);
    post(announce, released);
    announce?.close();
  };

  return {
    async acquire({ signal, timeoutMs }) {
      const owner = newOwner();
      const deadline = Date.now() + timeoutMs;
      const watch = new HolderWatch(staleMs);
      const channel = openChannel(channelName);
      let wake: (() => void) | undefined;
      if (channel) {
        channel.onmessage = (event: MessageEvent) => {
          // Not from the message itself: a frozen tab must not take the lease (an IndexedDB
          // transaction it could not finish).
          if (isLivenessMessage(event.data, 'released')) unlessFrozen(() => wake?.());
        };
      }
      try {
        for (;;) {
          if (signal.aborted) throw signal.reason;
          if (await tryTake(owner, watch)) break;
          const left = deadline - Date.now();
          if (left <= 0) throw lockTimeoutError(timeoutMs);
          // Ask the holder for a sign of life: a live one renews at once, a frozen one cannot.
          post(channel, ping);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, Math.min(pollMs, left));
            function done() {
              clearTimeout(timer);
              signal.removeEventListener('abort', done);
              wake = undefined;
              resolve();
            }
            wake = done;
            signal.addEventListener('abort', done, { once: true });
          });
        }
      } finally {
        channel?.close();
      }
      const handle = hold(owner);
      if (signal.aborted) {
        await handle.release();
        throw signal.reason;
      }
      return handle;
    },
  };
}
