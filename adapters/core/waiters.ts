/**
 * The requests waiting for a refresh. The statechart counts them and says when to release
 * or reject them; this is where they live (never in machine context).
 *
 * One deadline timer serves the whole queue (armed for the earliest `maxWaitMs` deadline),
 * not one timer per waiting request. The queue is a list linked through the waiters
 * themselves (no map, no id string kept): a waiter is its deadline, its place in the list
 * and, when the caller gave a signal, one abort listener. What answering it does is the
 * waiter's own: a promise for the session's callers, the replay itself for the fetch front
 * end (see `Waiter.settled`). With one `maxWaitMs` per session the deadlines come in the
 * order the waiters do, so the timer only ever looks at the head.
 */
export interface Credential {
  accessToken: string;
  /** Version of the token set the access token belongs to; a 401 reports it back (R3). */
  tokenVersion: number;
  /** `'DPoP'` or `'Bearer'` when the token set records it (see `TokenSet.tokenType`). */
  tokenType?: 'DPoP' | 'Bearer';
}

export type Outcome = { credential: Credential } | { error: unknown };

/**
 * One waiting request. Subclasses say what an answer does (`settled`); the fields here are
 * the queue's. A class, not closures: the fields are all it costs.
 */
export abstract class Waiter {
  /** Neighbours in the queue (insertion order). */
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  /** Its number in the queue; the machine knows it as `w<seq>`. */
  seq = 0;
  /** Host time (`Date.now()`, as timers see it) past which it leaves with `QUEUE_TIMEOUT`. */
  deadline = 0;
  maxWaitMs = 0;
  /** The abort listener; only when the caller gave a signal. */
  abort: AbortWatch | undefined = undefined;

  /** Answered, once: released with a credential, or rejected (refresh failed, timeout, abort). */
  abstract settled(outcome: Outcome): void;
}

/** A waiter the caller awaits as a promise. */
class PromiseWaiter extends Waiter {
  constructor(
    private readonly resolve: (credential: Credential) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    super();
  }

  settled(outcome: Outcome): void {
    if ('credential' in outcome) this.resolve(outcome.credential);
    else this.reject(outcome.error);
  }
}

/** Listens for the abort of one waiter's signal (an EventListener object: no closures). */
class AbortWatch {
  constructor(
    private readonly queue: Waiters,
    private readonly waiter: Waiter,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener('abort', this, { once: true });
  }

  handleEvent(): void {
    this.queue.leave(this.waiter, this.signal.reason);
  }

  detach(): void {
    this.signal.removeEventListener('abort', this);
  }
}

const idOf = (waiter: Waiter) => `w${waiter.seq}`;

/** Settle `waiter`, taken out of a queue emptied at once; returns the one after it. */
function release(waiter: Waiter, outcome: Outcome): Waiter | undefined {
  const next = waiter.next;
  forget(waiter);
  waiter.settled(outcome);
  return next;
}

/** The waiter no longer waits (`seq` 0): no links to the queue, no abort listener. */
function forget(waiter: Waiter): void {
  waiter.prev = waiter.next = undefined;
  waiter.seq = 0;
  waiter.abort?.detach();
  waiter.abort = undefined;
}

export class Waiters {
  private head: Waiter | undefined = undefined;
  private tail: Waiter | undefined = undefined;
  private count = 0;
  private nextSeq = 0;
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
    return this.count;
  }

  /**
   * Register a waiter, then call `announce(requestId)` (which sends the event to the
   * machine; the machine may settle the waiter synchronously).
   */
  wait(signal: AbortSignal | undefined, announce: (requestId: string) => void): Promise<Credential> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Credential>((resolve, reject) => this.add(new PromiseWaiter(resolve, reject), signal, announce));
  }

  /**
   * Queue `waiter`, then call `announce(requestId)`. With a signal already aborted it is
   * settled at once with the signal's reason, and nothing is queued or announced.
   */
  add(waiter: Waiter, signal: AbortSignal | undefined, announce: (requestId: string) => void): void {
    if (signal?.aborted) {
      waiter.settled({ error: signal.reason });
      return;
    }
    const maxWaitMs = this.maxWaitMs();
    waiter.seq = ++this.nextSeq;
    waiter.maxWaitMs = maxWaitMs;
    waiter.deadline = Date.now() + maxWaitMs;
    if (signal) waiter.abort = new AbortWatch(this, waiter, signal);
    if (waiter.deadline < this.lastDeadline) this.ordered = false;
    this.lastDeadline = waiter.deadline;
    waiter.prev = this.tail;
    if (this.tail) this.tail.next = waiter;
    else this.head = waiter;
    this.tail = waiter;
    this.count++;
    if (waiter.deadline < this.timerAt) this.arm(waiter.deadline);
    announce(idOf(waiter));
  }

  /** Settle one waiter. */
  settle(requestId: string, outcome: Outcome): void {
    const waiter = this.find(requestId);
    if (!waiter) return;
    this.unlink(waiter);
    waiter.settled(outcome);
  }

  /** Settle every waiter the same way; returns how many there were. */
  settleAll(outcome: Outcome): number {
    let waiter = this.head;
    const count = this.count;
    if (!waiter) return 0;
    // An empty queue first: whatever a settled waiter's continuation queues waits anew.
    this.head = this.tail = undefined;
    this.count = 0;
    this.reset();
    // The work is done per waiter in a function of its own: called for each, it is optimized
    // soon, where this loop, run once per release, would run cold.
    while (waiter) waiter = release(waiter, outcome);
    return count;
  }

  /** A waiter leaves on its own (abort, timeout): settle it and tell the machine. */
  leave(waiter: Waiter, error: unknown): void {
    if (waiter.seq === 0) return;
    const requestId = idOf(waiter);
    this.unlink(waiter);
    waiter.settled({ error });
    this.onLeave(requestId);
  }

  /** The waiter `requestId` names, if it still waits: looked for from the newest (the one just announced, usually). */
  private find(requestId: string): Waiter | undefined {
    const seq = Number(requestId.slice(1));
    for (let waiter = this.tail; waiter && waiter.seq >= seq; waiter = waiter.prev) if (waiter.seq === seq) return waiter;
    return undefined;
  }

  /** Take `waiter` out of the queue (it no longer waits: `seq` 0). */
  private unlink(waiter: Waiter): void {
    const { prev, next } = waiter;
    if (prev) prev.next = next;
    else this.head = next;
    if (next) next.prev = prev;
    else this.tail = prev;
    forget(waiter);
    if (--this.count === 0) this.reset();
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
    const due: Waiter[] = [];
    let next = Infinity;
    for (let waiter = this.head; waiter; waiter = waiter.next) {
      const deadline = waiter.deadline;
      if (deadline <= now) due.push(waiter);
      else if (this.ordered) {
        next = deadline;
        break;
      } else if (deadline < next) next = deadline;
    }
    for (const waiter of due) this.leave(waiter, this.onTimeout(waiter.maxWaitMs));
    // `leave` may have emptied the queue (and reset), or a continuation may have armed already.
    if (next !== Infinity && this.count > 0 && next < this.timerAt) this.arm(next);
  }
}
