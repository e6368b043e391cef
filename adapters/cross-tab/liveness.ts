/**
 * How a waiting tab tells a holder that is working from one that stopped (a frozen tab:
 * Chrome freezes background tabs, and so does Memory Saver; a main thread blocked for
 * seconds). Waiters ping on a BroadcastChannel and the holder answers. Chromium still
 * delivers messages to a frozen page but runs none of its timers, network, IndexedDB or
 * lock callbacks, so the answer comes from such a callback: a frozen holder never answers,
 * a live one in a background tab does (at once: its timers are throttled, those callbacks
 * are not). Durations are measured on the waiter's own monotonic clock: no tab compares its
 * clock with another's.
 */

/** What a waiter and a holder say to each other. Never a token. */
export type LivenessMessage =
  | { source: 'authchart.lock'; v: 1; kind: 'ping' }
  | { source: 'authchart.lock'; v: 1; kind: 'alive'; holder: string }
  | { source: 'authchart.lock'; v: 1; kind: 'released' };

export const ping: LivenessMessage = { source: 'authchart.lock', v: 1, kind: 'ping' };
export const released: LivenessMessage = { source: 'authchart.lock', v: 1, kind: 'released' };
export const alive = (holder: string): LivenessMessage => ({ source: 'authchart.lock', v: 1, kind: 'alive', holder });

/** Whether `data` is a message of ours of that kind; anything else on the channel is ignored. */
export function isLivenessMessage<K extends LivenessMessage['kind']>(data: unknown, kind: K): data is Extract<LivenessMessage, { kind: K }> {
  if (typeof data !== 'object' || data === null) return false;
  const m = data as Record<string, unknown>;
  if (m.source !== 'authchart.lock' || m.v !== 1 || m.kind !== kind) return false;
  return kind !== 'alive' || typeof m.holder === 'string';
}

/** The Page Lifecycle state of this page, as its `freeze` and `resume` events (Chromium) told it. */
const lifecycle = {
  watching: false,
  frozen: false,
  onResume: [] as (() => unknown)[],
  onFreeze: new Set<() => void>(),
};

/** Start following this page's `freeze` and `resume` events (once; a no-op outside a browser). */
export function watchLifecycle(): Pick<Document, 'addEventListener'> | undefined {
  const doc = (globalThis as { document?: Pick<Document, 'addEventListener'> }).document;
  if (lifecycle.watching || typeof doc?.addEventListener !== 'function') return doc;
  lifecycle.watching = true;
  doc.addEventListener('freeze', () => {
    lifecycle.frozen = true;
    for (const frozen of lifecycle.onFreeze) frozen();
  });
  doc.addEventListener('resume', () => {
    lifecycle.frozen = false;
    for (const then of lifecycle.onResume.splice(0)) then();
  });
  return doc;
}

/**
 * Run `then` now, or, in a frozen page, once it resumes. Chromium still delivers messages to
 * a frozen page (but runs none of its timers, network, IndexedDB or lock callbacks): what a
 * message starts there must not be an IndexedDB transaction (it could not finish, and an
 * open one blocks every other tab's writes until the page resumes).
 */
export function unlessFrozen(then: () => unknown): void {
  watchLifecycle();
  if (lifecycle.frozen) lifecycle.onResume.push(then);
  else then();
}

/** Whether this page is frozen now (a message is being delivered to a frozen page). */
export function isFrozen(): boolean {
  watchLifecycle();
  return lifecycle.frozen;
}

/**
 * Call `frozen` when the page is about to be frozen (the Page Lifecycle `freeze` event,
 * Chromium): a holder cannot tell whether a waiter will take the lock over while it is
 * frozen, so it counts the lock as lost from then on. Returns the unsubscribe.
 */
export function onFreeze(frozen: () => void): () => void {
  if (!watchLifecycle()) return () => {};
  lifecycle.onFreeze.add(frozen);
  return () => lifecycle.onFreeze.delete(frozen);
}

/** Milliseconds on a clock that never jumps (wall-clock changes do not make a holder look stale). */
export function monotonicNow(): number {
  return globalThis.performance?.now() ?? Date.now();
}

/** A BroadcastChannel, or undefined where there is none (older Safari: the lease then relies on its renewals). */
export function openChannel(name: string): BroadcastChannel | undefined {
  if (typeof BroadcastChannel === 'undefined') return undefined;
  try {
    return new BroadcastChannel(name);
  } catch {
    return undefined;
  }
}

/** Post, ignoring a channel closed meanwhile. */
export function post(channel: BroadcastChannel | undefined, message: LivenessMessage): void {
  try {
    channel?.postMessage(message);
  } catch {
    // Closed: the listener went away with it.
  }
}

/**
 * A waiter's view of one holder: when it last showed a sign of life. A new holder (another
 * id) starts a new watch, so a takeover of the lock, or a normal handoff, never counts the
 * previous holder's silence against the next one.
 */
export class HolderWatch {
  private current: { holder: string; heardAt: number } | undefined;

  constructor(private readonly staleMs: number) {}

  /** The holder now is `holder` (undefined: nobody); returns whether it has been silent for `staleMs`. */
  observe(holder: string | undefined): boolean {
    if (holder === undefined) {
      this.current = undefined;
      return false;
    }
    if (this.current?.holder !== holder) {
      this.current = { holder, heardAt: monotonicNow() };
      return false;
    }
    return monotonicNow() - this.current.heardAt >= this.staleMs;
  }

  /** `holder` showed a sign of life (answered a ping, renewed its lease). */
  heard(holder: string): void {
    if (this.current?.holder === holder) this.current.heardAt = monotonicNow();
  }

  /** Forget the holder (after a takeover attempt), so it is watched afresh. */
  reset(): void {
    this.current = undefined;
  }
}
