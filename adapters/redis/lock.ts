import { randomUUID } from 'node:crypto';
import { positiveOption } from '../core/options.js';
import { InvalidOptionsError, lockTimeoutError } from '../core/errors.js';
import type { LockHandle, RefreshLock } from '../core/ports.js';
import { bounded, toCommander } from './client.js';
import { defaultPrefix, sessionKeys } from './keys.js';
import { hubFor } from './pubsub.js';
import { acquireScript, releaseScript, renewScript, runScript } from './scripts.js';
import type { RedisConnectionOptions } from './store.js';

/**
 * Options of {@link redisLock}.
 * @example
 * redisLock({ client, subscriber, sessionId, ttlMs: 5000, pollIntervalMs: 250 })
 */
export interface RedisLockOptions extends RedisConnectionOptions {
  /** The session the lock belongs to (hashed into the key name). */
  sessionId: string;
  /**
   * Lifetime of the lock in Redis (`PX`). While the holder lives it renews the lock, so this
   * is how long the others wait when a holder dies (crash, SIGKILL) before one of them takes
   * over. Keep it below the session's `lockTimeoutMs`, or waiters give up first.
   * @default 5000
   */
  ttlMs?: number;
  /**
   * How often the holder extends the lock while its refresh runs.
   * @default ttlMs / 3
   */
  renewIntervalMs?: number;
  /**
   * Longest a holder keeps renewing. A handle that is never released (a bug, a refresh
   * that ignores its bound) stops being renewed then and the lock expires `ttlMs` later.
   * @default 60000
   */
  maxHoldMs?: number;
  /**
   * How often a waiter retries when it hears nothing. With a `subscriber` this is only a
   * safety net (a release wakes waiters at once); without one it is how waiters learn.
   * Each wait is also cut short when the holder's lock expires. ±20 % jitter.
   * @default 500 with a subscriber, 100 without
   */
  pollIntervalMs?: number;
}

/**
 * The refresh lock of one session in Redis: `SET key owner NX PX ttl`, released only by its
 * owner (compare-and-delete in Lua), renewed while the refresh runs, with a bounded wait
 * that honours `timeoutMs` and `signal`. Waiters wake on the release message (pub/sub) or
 * poll. After taking the lock, authchart re-reads the store and adopts tokens another
 * instance refreshed meanwhile, so a waiter that gets the lock second makes no token call.
 * @example
 * const lock = redisLock({ client, subscriber, sessionId, ttlMs: 5000 })
 */
export function redisLock(options: RedisLockOptions): RefreshLock {
  if (typeof options.sessionId !== 'string' || options.sessionId === '') throw new InvalidOptionsError('redisLock needs a sessionId.');
  const commander = toCommander(options.client);
  const keys = sessionKeys(options.prefix ?? defaultPrefix, options.sessionId);
  const operationTimeoutMs = positiveOption('operationTimeoutMs', options.operationTimeoutMs, 2000, 'number of milliseconds');
  const ttlMs = Math.ceil(positiveOption('ttlMs', options.ttlMs, 5000, 'number of milliseconds'));
  const renewIntervalMs = positiveOption('renewIntervalMs', options.renewIntervalMs, Math.max(1, Math.floor(ttlMs / 3)), 'number of milliseconds');
  const maxHoldMs = positiveOption('maxHoldMs', options.maxHoldMs, 60_000, 'number of milliseconds');
  const pollIntervalMs = positiveOption('pollIntervalMs', options.pollIntervalMs, options.subscriber ? 500 : 100, 'number of milliseconds');
  const hub = options.subscriber ? hubFor(options.subscriber, keys.channel) : null;

  const take = (owner: string, boundMs: number) =>
    bounded(commander, 'take the refresh lock', boundMs, () => runScript(commander, acquireScript, keys.lock, [owner, ttlMs]));
  const release = (owner: string) =>
    bounded(commander, 'release the refresh lock', operationTimeoutMs, () => runScript(commander, releaseScript, keys.lock, [owner, keys.channel, keys.id]));

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
      bounded(commander, 'renew the refresh lock', Math.min(operationTimeoutMs, renewIntervalMs), () => runScript(commander, renewScript, keys.lock, [owner, ttlMs]))
        .then((still) => {
          // Lost (expired while Redis was unreachable, or taken over): stop; the store's
          // compare-and-set keeps a late write from overwriting the new holder's tokens.
          if (Number(still) !== 1) clearInterval(renewal);
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
        await release(owner);
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
      const unlisten = hub?.listen(keys.id, (event) => {
        if (event.kind !== 'l') return;
        released = true;
        wake?.();
      });
      const pause = (ms: number) =>
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
        });
      try {
        for (;;) {
          const remaining = deadline - Date.now();
          if (remaining <= 0) throw lockTimeoutError(timeoutMs);
          released = false;
          let reply: unknown;
          try {
            reply = await take(owner, Math.min(operationTimeoutMs, remaining));
          } catch (error) {
            // A take that went unanswered may still run later and leave a lock nobody
            // releases (until its TTL): queue the owner's release behind it, best effort.
            void release(owner).catch(() => undefined);
            throw error;
          }
          const [won, pttl] = Array.isArray(reply) ? reply.map(Number) : [0, -2];
          if (won === 1) {
            const handle = hold(owner);
            if (signal.aborted) {
              await Promise.resolve(handle.release()).catch(() => undefined);
              throw signal.reason;
            }
            return handle;
          }
          if (signal.aborted) throw signal.reason;
          // Wait for the release message, the holder's expiry, a poll, or the bound.
          const jittered = pollIntervalMs * (0.8 + Math.random() * 0.4);
          const untilExpiry = pttl !== undefined && pttl >= 0 ? pttl + 2 : jittered;
          await pause(Math.max(1, Math.min(jittered, untilExpiry, deadline - Date.now())));
          if (signal.aborted) throw signal.reason;
        }
      } finally {
        unlisten?.();
      }
    },
  };
}
