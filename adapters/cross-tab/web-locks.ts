import type { LockHandle, RefreshLock } from '../core/ports.js';
import { InvalidOptionsError, lockTimeoutError } from '../core/errors.js';
import { positiveOption } from '../core/options.js';
import { lockLostError } from '../locks/lost.js';
import { alive, HolderWatch, isLivenessMessage, onFreeze, openChannel, ping, post, watchLifecycle } from './liveness.js';

export interface WebLocksLockOptions {
  /**
   * The lock's name; tabs of one origin that use the same name exclude each other.
   * @default 'authchart.refresh'
   */
  name?: string;
  /**
   * The LockManager.
   * @default navigator.locks
   */
  locks?: LockManager;
  /**
   * Longest this tab holds the lock. Past it the handle lets the lock go and its `signal`
   * aborts, so a refresh that never ends (a store call that hangs) cannot block the other
   * tabs. Keep it above what a refresh may take: `refreshTimeoutMs` (10 s) and two store calls.
   * @default 15000
   */
  maxHoldMs?: number;
  /**
   * A holding tab that answers no ping for this long (frozen by the browser, or its main
   * thread blocked) is taken over: one waiting tab steals the Web Lock, re-reads the store and
   * refreshes. The frozen tab, once it resumes, finds it lost the lock and adopts what was
   * stored (see the README, "A frozen tab holding the lock"). Shorter recovers sooner; longer
   * spares a tab whose main thread is blocked for a while.
   * @default 2000
   */
  staleMs?: number;
  /**
   * How often a waiting tab pings the holder and looks at who holds the lock.
   * @default 250
   */
  pollMs?: number;
}

/**
 * A refresh lock across the tabs of one origin, on the Web Locks API. At most one tab
 * refreshes at a time; the others wait (bounded by `timeoutMs`) and, once they hold it,
 * re-read the store and adopt what the first one stored instead of calling the server.
 * The browser releases the lock when the holding tab closes or crashes; a holding tab that
 * is frozen (which keeps its locks) is taken over after `staleMs`; a holder is bounded by
 * `maxHoldMs`.
 * @example
 * const lock = webLocksLock({ name: 'myapp.refresh' })
 */
export function webLocksLock(options: WebLocksLockOptions = {}): RefreshLock {
  const name = options.name ?? 'authchart.refresh';
  const maxHoldMs = positiveOption('maxHoldMs', options.maxHoldMs, 15_000, 'number of milliseconds');
  const staleMs = positiveOption('staleMs', options.staleMs, 2000, 'number of milliseconds');
  const pollMs = positiveOption('pollMs', options.pollMs, 250, 'number of milliseconds');
  const channelName = `authchart.lock:${name}`;
  watchLifecycle();

  /** The client (tab, worker) holding the lock, as the browser names it. */
  const holderOf = async (locks: LockManager): Promise<string | undefined> => (await locks.query()).held?.find((lock) => lock.name === name)?.clientId;

  /**
   * While held, answer the waiters' pings with the holder's client id, read from the
   * LockManager: a task Chromium runs at once in a background tab (no timer throttling) but
   * not at all in a frozen one, whose messages still arrive.
   */
  const answerPings = (locks: LockManager) => {
    const channel = openChannel(channelName);
    if (!channel) return undefined;
    // Read once granted, when the holder is this client.
    const me = holderOf(locks).catch(() => undefined);
    channel.onmessage = (event: MessageEvent) => {
      if (!isLivenessMessage(event.data, 'ping')) return;
      void Promise.all([me, holderOf(locks)]).then(
        // Only while this client still holds it (not after a takeover it has yet to hear of).
        ([mine, holder]) => mine && mine === holder && post(channel, alive(holder)),
        () => undefined,
      );
    };
    return channel;
  };

  /**
   * Ask for the lock; resolve with a handle once it is granted. The handle's `signal` aborts
   * when the lock is lost without `release()`: stolen by a tab that found this one silent,
   * or held past `maxHoldMs`.
   */
  const request = (locks: LockManager, requestOptions: LockOptions): Promise<LockHandle> =>
    new Promise<LockHandle>((resolve, reject) => {
      let granted = false;
      let letGo = () => {};
      let expiry: ReturnType<typeof setTimeout> | undefined;
      let channel: BroadcastChannel | undefined;
      let unlistenFreeze = () => {};
      const lost = new AbortController();
      const stop = () => {
        clearTimeout(expiry);
        channel?.close();
        unlistenFreeze();
        letGo();
      };
      locks
        .request(name, requestOptions, () => {
          granted = true;
          // Held until this promise resolves: on release(), past maxHoldMs, or once stolen.
          const held = new Promise<void>((r) => (letGo = r));
          expiry = setTimeout(() => {
            lost.abort(lockLostError(`held past maxHoldMs, ${maxHoldMs} ms`));
            stop();
          }, maxHoldMs);
          channel = answerPings(locks);
          // Frozen while holding: a waiter may take the lock over meanwhile; on resuming, the
          // refresh must not present its refresh token (it re-reads the store instead).
          unlistenFreeze = onFreeze(() => lost.abort(lockLostError('this tab was frozen while holding it')));
          resolve({ signal: lost.signal, release: stop });
          return held;
        })
        .catch((error: unknown) => {
          if (!granted) {
            reject(error);
            return;
          }
          // Granted, then stolen: this tab answered no ping for staleMs (it was frozen).
          lost.abort(lockLostError('taken over by a tab that found this one silent'));
          stop();
        });
    });

  return {
    acquire({ signal, timeoutMs }) {
      const locks = options.locks ?? (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
      if (!locks) {
        const missing = 'The Web Locks API is not available here; use leaseLock() or crossTab().';
        return Promise.reject(new InvalidOptionsError(missing));
      }
      if (signal.aborted) return Promise.reject(signal.reason);
      return new Promise<LockHandle>((resolve, reject) => {
        let settled = false;
        let leftQueue = false;
        const queued = new AbortController();
        const watch = new HolderWatch(staleMs);
        const channel = openChannel(channelName);

        const finish = () => {
          settled = true;
          clearTimeout(timer);
          clearInterval(poll);
          channel?.close();
          signal.removeEventListener('abort', onAbort);
        };
        const fail = (error: unknown) => {
          if (settled) return;
          finish();
          queued.abort(error);
          reject(error);
        };
        // A lock granted after this wait gave up is let go at once (R10).
        const offer = (handle: LockHandle) => {
          if (settled) {
            void handle.release();
            return;
          }
          finish();
          resolve(handle);
        };
        const onAbort = () => fail(signal.reason);
        const timer = setTimeout(() => fail(lockTimeoutError(timeoutMs)), timeoutMs);
        signal.addEventListener('abort', onAbort, { once: true });

        request(locks, { mode: 'exclusive', signal: queued.signal }).then(offer, (error: unknown) => {
          // Leaving the queue to take the lock over is not a failure of this wait.
          if (!leftQueue) fail(error);
        });

        let taking = false;
        const takeOver = (silent: string) =>
          locks.request(`${name}:takeover`, { ifAvailable: true }, async (turn) => {
            // One waiter takes over at a time; the others look again at their next poll and
            // then see the new holder. The holder is checked again inside this lock, so a
            // holder that released meanwhile is not robbed.
            if (!turn || settled || (await holderOf(locks)) !== silent) return;
            leftQueue = true;
            queued.abort(lockLostError('left the queue to take over'));
            // Granted before this tab's takeover lock is released: whoever looks next sees it.
            offer(await request(locks, { steal: true }));
          });

        const check = async () => {
          if (settled || taking) return;
          const holder = await holderOf(locks);
          if (settled) return;
          if (!watch.observe(holder)) {
            post(channel, ping);
            return;
          }
          taking = true;
          try {
            await takeOver(holder!);
          } catch (error) {
            // Out of the queue and the steal failed: this wait cannot end well.
            if (leftQueue) fail(error);
          } finally {
            taking = false;
            watch.reset();
          }
        };
        if (channel) {
          channel.onmessage = (event: MessageEvent) => {
            if (isLivenessMessage(event.data, 'alive')) watch.heard(event.data.holder);
          };
        }
        // Without BroadcastChannel there is nobody to ping: only maxHoldMs bounds a holder.
        // A failed look (query() refused) is tried again at the next poll.
        const look = () => void check().catch(() => undefined);
        const poll = channel ? setInterval(look, pollMs) : undefined;
        // Look at once: in a background tab the next poll may be a second away (timer throttling).
        if (channel) look();
      });
    },
  };
}
