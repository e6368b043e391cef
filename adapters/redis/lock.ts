import { positiveOption } from '../core/options.js';
import type { RefreshLock } from '../core/ports.js';
import { leaseLock, type LeaseBackend } from '../server/lease-lock.js';
import { bounded } from './client.js';
import { acquireScript, releaseScript, renewScript, runScript } from './scripts.js';
import { sessionConnection, type RedisConnectionOptions } from './store.js';

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
  const { commander, keys, publish, events } = sessionConnection(options, 'redisLock');
  const operationTimeoutMs = positiveOption('operationTimeoutMs', options.operationTimeoutMs, 2000, 'number of milliseconds');
  const ttlMs = Math.ceil(positiveOption('ttlMs', options.ttlMs, 5000, 'number of milliseconds'));
  const renewIntervalMs = positiveOption('renewIntervalMs', options.renewIntervalMs, Math.max(1, Math.floor(ttlMs / 3)), 'number of milliseconds');
  const maxHoldMs = positiveOption('maxHoldMs', options.maxHoldMs, 60_000, 'number of milliseconds');
  const pollIntervalMs = positiveOption('pollIntervalMs', options.pollIntervalMs, options.subscriber ? 500 : 100, 'number of milliseconds');

  const backend: LeaseBackend = {
    async take(owner, boundMs) {
      const reply = await bounded(commander, 'take the refresh lock', boundMs, () => runScript(commander, acquireScript, keys.lock, [owner, ttlMs]), keys.lock);
      const [won, pttl] = Array.isArray(reply) ? reply.map(Number) : [0, -2];
      return { won: won === 1, holderRemainingMs: pttl !== undefined && pttl >= 0 ? pttl : undefined };
    },
    async renew(owner, boundMs) {
      const still = await bounded(commander, 'renew the refresh lock', boundMs, () => runScript(commander, renewScript, keys.lock, [owner, ttlMs]), keys.lock);
      return Number(still) === 1;
    },
    async release(owner) {
      await bounded(
        commander,
        'release the refresh lock',
        operationTimeoutMs,
        () => runScript(commander, releaseScript, keys.lock, [owner, keys.channel, keys.id, publish]),
        keys.lock,
      );
    },
  };
  if (events) {
    backend.onRelease = (listener) => ({
      stop: events.listen((event) => {
        if (event.kind === 'l') listener();
      }),
      ready: events.ready(),
    });
  }
  return leaseLock(backend, { renewIntervalMs, maxHoldMs, pollIntervalMs, operationTimeoutMs });
}
