/**
 * The requests waiting for a refresh. The statechart counts them and says when to release
 * or reject them; this is where their promises live (never in machine context).
 *
 * One deadline timer serves the whole queue (armed for the earliest `maxWaitMs` deadline),
 * not one timer per waiting request: a waiter is its promise's two functions, its deadline
 * and, when the caller gave a signal, one abort listener. With one `maxWaitMs` per session
 * the deadlines come in the order the waiters do, so the timer only ever looks at the head.
 */
export interface Credential {
  accessToken: string;
  /** Version of the token set the access token belongs to; a 401 reports it back (R3). */
  tokenVersion: number;
  /** `'DPoP'` or `'Bearer'` when the token set records it (see `TokenSet.tokenType`). */
  tokenType?: 'DPoP' | 'Bearer';
}

type Outcome = { credential: Credential } | { error: unknown };

/** One waiting request. A class, not closures: the fields are all it costs. */
class Waiter {
  /** Removes the abort listener; only set when the caller gave a signal. */
  detach: (() => void) | undefined = undefined;
  constructor(
    readonly resolve: (credential: Credential) => void,
    readonly reject: (error: unknown) => void,
    /** Host time (`Date.now()`, as timers see it) past which it leaves with `QUEUE_TIMEOUT`. */
    readonly deadline: number,
    readonly maxWaitMs: number,
  ) {}

  settle(outcome: Outcome): void {
    this.detach?.();
    if ('credential' in outcome) this.resolve(outcome.credential);
    else this.reject(outcome.error);
  }
}

export class Waiters {
  /** Made by the first waiter: an idle session has none. */
  private waiting: Map<string, Waiter> | undefined = undefined;
  private nextId = 0;
  private timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** When the armed timer fires (host time), or Infinity when none is armed. */
  private timerAt = Infinity;
  /** Every deadline so far came no earlier than the one before it (the head is the earliest). */
  private ordered = true;
  private lastDeadline = -Infinity;

  constructor(
    private readonly maxWaitMs: () => number,
    private readonly onTimeout: (maxWaitMs: number) => Error,
    /** Told when a waiter leaves on its own (abort, timeout), so the machine's count follows. */
    private readonly onLeave: (requestId: string) => void,
  ) {}

  get size(): number {
    return this.waiting?.size ?? 0;
  }

  /**
   * Register a waiter, then call `announce(requestId)` (which sends the event to the
   * machine; the machine may settle the waiter synchronously).
   */
  wait(signal: AbortSignal | undefined, announce: (requestId: string) => void): Promise<Credential> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const requestId = `w${++this.nextId}`;
    return new Promise<Credential>((resolve, reject) => {
      const maxWaitMs = this.maxWaitMs();
      const waiter = new Waiter(resolve, reject, Date.now() + maxWaitMs, maxWaitMs);
      if (signal) {
        const onAbort = () => this.leave(requestId, signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.detach = () => signal.removeEventListener('abort', onAbort);
      }
      if (waiter.deadline < this.lastDeadline) this.ordered = false;
      this.lastDeadline = waiter.deadline;
      this.waiting ??= new Map();
      this.waiting.set(requestId, waiter);
      if (waiter.deadline < this.timerAt) this.arm(waiter.deadline);
      announce(requestId);
    });
  }

  /** Settle one waiter. */
  settle(requestId: string, outcome: Outcome): void {
    const waiting = this.waiting;
    const waiter = waiting?.get(requestId);
    if (!waiter) return;
    waiting!.delete(requestId);
    if (waiting!.size === 0) this.reset();
    waiter.settle(outcome);
  }

  /** Settle every waiter the same way; returns how many there were. */
  settleAll(outcome: Outcome): number {
    const all = this.waiting;
    if (!all || all.size === 0) return 0;
    // A fresh map first: whatever a settled waiter's continuation queues waits anew.
    this.waiting = undefined;
    this.reset();
    for (const waiter of all.values()) waiter.settle(outcome);
    return all.size;
  }

  /** A waiter leaves on its own (abort, timeout): settle it and tell the machine. */
  private leave(requestId: string, error: unknown): void {
    const waiting = this.waiting;
    const waiter = waiting?.get(requestId);
    if (!waiter) return;
    waiting!.delete(requestId);
    if (waiting!.size === 0) this.reset();
    waiter.settle({ error });
    this.onLeave(requestId);
  }

  /** No one waits: no timer, and the order starts over. */
  private reset(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.ordered = true;
    this.lastDeadline = -Infinity;
  }

  /**
   * Arm the queue's timer for `at`. Not unref'd: a request that waits keeps the process
   * running until it is answered or times out (R13).
   */
  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - Date.now()));
  }

  /** The timer fired: every waiter past its deadline leaves, then the timer is armed for the next. */
  private expire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    const due: [string, Waiter][] = [];
    let next = Infinity;
    for (const entry of this.waiting ?? []) {
      const deadline = entry[1].deadline;
      if (deadline <= now) due.push(entry);
      else if (this.ordered) {
        next = deadline;
        break;
      } else if (deadline < next) next = deadline;
    }
    for (const [requestId, waiter] of due) this.leave(requestId, this.onTimeout(waiter.maxWaitMs));
    // `leave` may have emptied the queue (and reset), or a continuation may have armed already.
    if (next !== Infinity && this.size > 0 && next < this.timerAt) this.arm(next);
  }
}
