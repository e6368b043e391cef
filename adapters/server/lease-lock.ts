import { randomUUID } from 'node:crypto';
import { ErrorCode, lockTimeoutError, RefreshError } from '../core/errors.js';
import type { LockHandle, RefreshLock } from '../core/ports.js';

/**
 * What a shared database gives a lease lock: a lease row or key with an owner and an expiry,
 * kept by the database's clock. Redis and PostgreSQL implement it.
 */
export interface LeaseBackend {
  /**
   * Take the lease for `owner` (taking it again as the same owner counts as taken and extends
   * it: a retry whose first reply was lost). When it is held by another, say how long that
   * holder's lease has left, if known.
   */
  take(owner: string, boundMs: number): Promise<{ won: boolean; holderRemainingMs?: number }>;
  /** Extend the lease if `owner` still holds it; false when it was lost. */
  renew(owner: string, boundMs: number): Promise<boolean>;
  /** Give the lease back if `owner` holds it (compare-and-delete), and wake the waiters. */
  release(owner: string): Promise<void>;
  /**
   * Optional: be told when the lease is released (pub/sub, LISTEN/NOTIFY). `ready` resolves
   * once the subscription is active (false when it could not be made).
   */
  onRelease?(listener: () => void): { ready: Promise<boolean>; stop(): void };
}

export interface LeaseTiming {
  /** How often the holder extends the lease while its refresh runs. */
  renewIntervalMs: number;
  /** Longest a holder keeps renewing; a handle never released loses the lock after this (plus the lease's life). */
  maxHoldMs: number;
  /** How often a waiter tries again when it hears nothing (±20 % jitter). */
  pollIntervalMs: number;
  /** Bound of one release or renewal. */
  operationTimeoutMs: number;
}

/**
 * A refresh lock over a lease in a shared database: taken with a bounded wait that honours
 * `timeoutMs` and `signal`, renewed while held, given up after `maxHoldMs`, released only by
 * its owner. Waiters wake on the release message, when the holder's lease runs out, or on
 * a poll. Nothing is held on the database between calls (no session-level lock, no open
 * transaction), so a pooled connection is never tied up while the token call runs.
 */
export function leaseLock(backend: LeaseBackend, timing: LeaseTiming): RefreshLock {
  const { renewIntervalMs, maxHoldMs, pollIntervalMs, operationTimeoutMs } = timing;

  const hold = (owner: string): LockHandle => {
    const acquiredAt = Date.now();
    let held = true;
    let renewing = false;
    const renewal = setInterval(() => {
      if (!held || renewing) return;
      if (Date.now() - acquiredAt >= maxHoldMs) {
        clearInterval(renewal);
        return;
      }
      renewing = true;
      backend
        .renew(owner, Math.min(operationTimeoutMs, renewIntervalMs))
        .then((still) => {
          // Lost (expired while the database was unreachable, or taken over): stop; the
          // store's compare-and-set keeps a late write from overwriting the new holder's tokens.
          if (!still) clearInterval(renewal);
        })
        .catch(() => undefined)
        .finally(() => {
          renewing = false;
        });
    }, renewIntervalMs);
    (renewal as { unref?: () => void }).unref?.();
    return {
      async release() {
        if (!held) return;
        held = false;
        clearInterval(renewal);
        await backend.release(owner);
      },
    };
  };

  return {
    async acquire({ signal, timeoutMs }) {
      if (signal.aborted) throw signal.reason;
      const deadline = Date.now() + timeoutMs;
      const owner = randomUUID();
      let released = false;
      let wake: (() => void) | null = null;
      const subscription = backend.onRelease?.(() => {
        released = true;
        wake?.();
      });
      // Until the subscription is known to be active, a release may go unheard: the first
      // time the lock is found held, wait for it (bounded) and try again before sleeping.
      let listening = subscription === undefined;
      const pause = (ms: number, until?: Promise<unknown>) =>
        new Promise<void>((resolve) => {
          if (released || signal.aborted) {
            resolve();
            return;
          }
          const done = () => {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            wake = null;
            resolve();
          };
          const timer = setTimeout(done, ms);
          signal.addEventListener('abort', done, { once: true });
          wake = done;
          until?.then(done, done);
        });
      try {
        for (;;) {
          const remaining = deadline - Date.now();
          if (remaining <= 0) throw lockTimeoutError(timeoutMs);
          released = false;
          let reply: { won: boolean; holderRemainingMs?: number };
          const boundMs = Math.min(operationTimeoutMs, remaining);
          try {
            reply = await backend.take(owner, boundMs);
          } catch (error) {
            // A take that went unanswered may still run later and leave a lock nobody
            // releases (until its lease ends): queue the owner's release behind it, best effort.
            void backend.release(owner).catch(() => undefined);
            // Cut short by the wait's own bound, not the database's: the wait timed out.
            if (boundMs < operationTimeoutMs && Date.now() >= deadline) {
              throw new RefreshError(
                { kind: 'transient', reason: ErrorCode.LOCK_TIMEOUT, cause: error },
                `The refresh lock was not acquired within ${timeoutMs} ms.`,
                ErrorCode.LOCK_TIMEOUT,
              );
            }
            throw error;
          }
          if (reply.won) {
            const handle = hold(owner);
            if (signal.aborted) {
              await Promise.resolve(handle.release()).catch(() => undefined);
              throw signal.reason;
            }
            return handle;
          }
          if (signal.aborted) throw signal.reason;
          if (!listening) {
            listening = true;
            await pause(Math.min(operationTimeoutMs, deadline - Date.now()), subscription!.ready);
            if (signal.aborted) throw signal.reason;
            continue;
          }
          // Wait for the release message, the holder's expiry, a poll, or the bound.
          const jittered = pollIntervalMs * (0.8 + Math.random() * 0.4);
          const left = reply.holderRemainingMs;
          const untilExpiry = left !== undefined && left >= 0 ? left + 2 : jittered;
          await pause(Math.max(1, Math.min(jittered, untilExpiry, deadline - Date.now())));
          if (signal.aborted) throw signal.reason;
        }
      } finally {
        subscription?.stop();
      }
    },
  };
}
