/**
 * The controlled scheduler of the protocol explorer: it decides, one step at a time, which
 * pending thing happens next — a port call answered (store, lock, token endpoint, resource),
 * a change notification delivered, or the clock moved to the next timer — so that every
 * interleaving is a sequence of choices that can be generated, shrunk and replayed.
 *
 * Time is virtual: `setTimeout` / `setInterval` are replaced by a timer queue the scheduler
 * owns, and `Date.now` follows it through vitest's fake Date. Every timer and every pending
 * event has an owner (a session, a server instance, or the world), so that a frozen owner's
 * timers and answers are held until it thaws and a dead owner's are dropped, while the rest
 * of the world keeps going.
 *
 * Each step delivers one event or fires one timer, of one owner, and then drains the
 * microtask queue completely (one real `setImmediate`): the step is atomic with respect to
 * the code under test, and every continuation that runs in it resumes code of that owner
 * (an answer resumes the party that made the call). So the code running during a step is
 * the step owner's, and timers it sets are that owner's; `runAs` marks the synchronous
 * sections that belong to someone else (the world's lock and store, a session's creation).
 */
import { setImmediate as realSetImmediate } from 'node:timers';
import { vi } from 'vitest';

/** Who an event or timer belongs to: `world`, a session (`s0`…), a server instance (`m0`…). */
export type Owner = string;

export interface PendingEvent {
  id: number;
  label: string;
  owner: Owner;
  /** Virtual time by which it must have happened (a latency bound); null: none. */
  deadline: number | null;
  /** Events with the same key happen in creation order (one connection's answers). */
  fifo?: string;
  run: () => void | Promise<void>;
}

interface Timer {
  id: number;
  at: number;
  seq: number;
  owner: Owner;
  fn: () => void;
  interval: number | null;
  /** Scripted actions have a label for the trace; library timers do not. */
  label?: string;
}

/** Picks one of `n` options (n ≥ 2); returns an index in [0, n). */
export type Chooser = (n: number, labels: () => string[]) => number;

/** The default policy: the oldest pending event first, the clock only when nothing is pending. */
export const oldestFirst: Chooser = () => 0;

/** A chooser that follows a list of choices (each taken modulo the number of options), then `oldestFirst`. */
export function choicesChooser(choices: readonly number[]): Chooser {
  let k = 0;
  return (n) => (k < choices.length ? choices[k++]! : 0) % n;
}

const TICK = 'the clock moves to the next timer';

export class Scheduler {
  now: number;
  readonly start: number;
  steps = 0;
  /** Labels of the steps taken (the interleaving, readable). */
  readonly trace: string[] = [];
  /** Errors thrown by timer callbacks (xstate reports unhandled errors that way). */
  readonly thrown: { owner: Owner; error: unknown }[] = [];
  private timers: Timer[] = [];
  private pending: PendingEvent[] = [];
  private readonly state = new Map<Owner, 'running' | 'frozen' | 'dead'>();
  private nextId = 1;
  private nextSeq = 1;
  private installed = false;
  private stepOwner: Owner = 'world';
  private readonly overrides: Owner[] = [];

  constructor(
    start: number,
    private chooser: Chooser,
  ) {
    this.now = start;
    this.start = start;
  }

  /** Replace the chooser (the healing phase plays the default policy). */
  setChooser(chooser: Chooser): void {
    this.chooser = chooser;
  }

  /** The owner of the code running now. */
  get current(): Owner {
    return this.overrides.at(-1) ?? this.stepOwner;
  }

  /** Run the synchronous `fn` as `owner` (the timers it sets belong to it). */
  runAs<T>(owner: Owner, fn: () => T): T {
    this.overrides.push(owner);
    try {
      return fn();
    } finally {
      this.overrides.pop();
    }
  }

  /** Start something as `owner` outside a step, and let its continuations run as that owner. */
  async settleAs(owner: Owner, fn: () => void): Promise<void> {
    this.stepOwner = owner;
    try {
      fn();
      await Scheduler.flush();
    } finally {
      this.stepOwner = 'world';
    }
  }

  isRunning(owner: Owner): boolean {
    return (this.state.get(owner) ?? 'running') === 'running';
  }
  isFrozen(owner: Owner): boolean {
    return this.state.get(owner) === 'frozen';
  }
  isDead(owner: Owner): boolean {
    return this.state.get(owner) === 'dead';
  }

  freeze(owner: Owner): void {
    if (this.isRunning(owner)) this.state.set(owner, 'frozen');
  }
  /** Thaw: held timers come due at once (as in a tab that resumes), held answers can be delivered. */
  thaw(owner: Owner): void {
    if (this.isFrozen(owner)) this.state.set(owner, 'running');
  }
  /** Kill: everything the owner had pending or scheduled is dropped, and nothing it starts later runs. */
  kill(owner: Owner): void {
    this.state.set(owner, 'dead');
    this.timers = this.timers.filter((t) => t.owner !== owner);
    this.pending = this.pending.filter((e) => e.owner !== owner);
  }

  /** Install the virtual timers and Date (call once per run; `uninstall` restores them). */
  install(): void {
    if (this.installed) return;
    this.installed = true;
    vi.useFakeTimers({ toFake: ['Date'], now: this.now });
    const handle = (id: number) => ({
      id,
      unref() {
        return this;
      },
      ref() {
        return this;
      },
      hasRef: () => false,
      [Symbol.toPrimitive]: () => id,
    });
    const idOf = (h: unknown) => (typeof h === 'object' && h !== null ? (h as { id: number }).id : Number(h));
    const set =
      (interval: boolean) =>
      (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
        const id = this.nextId++;
        const delay = Math.max(0, Number(ms) || 0);
        const owner = this.current;
        if (!this.isDead(owner)) {
          this.insertTimer({ id, at: this.now + delay, seq: this.nextSeq++, owner, fn: () => fn(...args), interval: interval ? Math.max(1, delay) : null });
        }
        return handle(id);
      };
    const clear = (h: unknown) => {
      const id = idOf(h);
      this.timers = this.timers.filter((t) => t.id !== id);
    };
    vi.stubGlobal('setTimeout', set(false));
    vi.stubGlobal('setInterval', set(true));
    vi.stubGlobal('clearTimeout', clear);
    vi.stubGlobal('clearInterval', clear);
  }

  uninstall(): void {
    if (!this.installed) return;
    this.installed = false;
    vi.unstubAllGlobals();
    vi.useRealTimers();
  }

  private insertTimer(timer: Timer): void {
    let i = this.timers.length;
    while (i > 0 && (this.timers[i - 1]!.at > timer.at || (this.timers[i - 1]!.at === timer.at && this.timers[i - 1]!.seq > timer.seq))) i--;
    this.timers.splice(i, 0, timer);
  }

  /** A timer of the world (scripted actions, faults), independent of any session. */
  at(time: number, owner: Owner, label: string, fn: () => void): void {
    this.insertTimer({ id: this.nextId++, at: Math.max(time, this.now), seq: this.nextSeq++, owner, fn, interval: null, label });
  }

  /** Register an event; it happens when the scheduler picks it (never after `deadline`). */
  event(owner: Owner, label: string, options: { deadline: number | null; fifo?: string }, run: () => void | Promise<void>): PendingEvent | null {
    if (this.isDead(owner)) return null;
    const event: PendingEvent = { id: this.nextId++, label, owner, deadline: options.deadline, run };
    if (options.fifo !== undefined) event.fifo = options.fifo;
    this.pending.push(event);
    return event;
  }

  /** Withdraw an event that can no longer happen (a request aborted before it reached the server). */
  cancel(event: PendingEvent | null): void {
    if (event) this.pending = this.pending.filter((e) => e !== event);
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Events that may happen now: owner running, head of its FIFO. */
  private deliverable(): PendingEvent[] {
    const heads = new Set<string>();
    const out: PendingEvent[] = [];
    for (const e of this.pending) {
      if (e.fifo !== undefined) {
        if (heads.has(e.fifo)) continue;
        heads.add(e.fifo);
      }
      if (this.isRunning(e.owner)) out.push(e);
    }
    return out;
  }

  private nextTimer(): Timer | undefined {
    return this.timers.find((t) => this.isRunning(t.owner));
  }

  /** When the clock would move to on a tick, or null when nothing is scheduled. */
  private nextTime(events: PendingEvent[]): number | null {
    let next = this.nextTimer()?.at ?? null;
    for (const e of events) if (e.deadline !== null && (next === null || e.deadline < next)) next = e.deadline;
    return next === null ? null : Math.max(next, this.now);
  }

  /** Drain the microtask queue (one real macrotask turn). */
  static flush(): Promise<void> {
    return new Promise((resolve) => realSetImmediate(resolve));
  }

  /**
   * Take one step. Returns false when nothing can happen before `horizon` (no deliverable
   * event and no timer due by then).
   */
  async step(horizon: number): Promise<boolean> {
    await Scheduler.flush();
    const events = this.deliverable();
    const urgent = events.some((e) => e.deadline !== null && e.deadline <= this.now);
    const next = this.nextTime(events);
    // An event at its deadline holds the clock back, but a timer due at this very instant
    // may still go first: both happen "now".
    const dueNow = this.nextTimer();
    const canTick = urgent ? dueNow !== undefined && dueNow.at <= this.now : next !== null && next <= horizon;
    const n = events.length + (canTick ? 1 : 0);
    if (n === 0) return false;
    const pick = n === 1 ? 0 : this.chooser(n, () => [...events.map((e) => e.label), ...(canTick ? [TICK] : [])]);
    this.steps++;
    try {
      if (pick < events.length) {
        const event = events[pick]!;
        this.pending = this.pending.filter((e) => e !== event);
        this.trace.push(`${this.stamp()} ${event.label}`);
        this.stepOwner = event.owner;
        try {
          await event.run();
        } catch (error) {
          this.thrown.push({ owner: event.owner, error });
        }
      } else {
        this.tick(urgent ? this.now : next!);
      }
      await Scheduler.flush();
    } finally {
      this.stepOwner = 'world';
    }
    return true;
  }

  /** Let time pass with nothing happening (nothing is scheduled before `to`). */
  advanceTo(to: number): void {
    if (to <= this.now) return;
    this.now = to;
    vi.setSystemTime(this.now);
    this.trace.push(`${this.stamp()} (time passes)`);
  }

  /** Move the clock to `to` (if later) and fire the first timer due then, if any. */
  private tick(to: number): void {
    if (to > this.now) {
      this.now = to;
      vi.setSystemTime(this.now);
    }
    const timer = this.nextTimer();
    if (!timer || timer.at > this.now) {
      this.trace.push(`${this.stamp()} (time passes)`);
      return;
    }
    this.timers = this.timers.filter((t) => t !== timer);
    this.trace.push(`${this.stamp()} ${timer.label ?? `timer of ${timer.owner}`}`);
    if (timer.interval !== null) this.insertTimer({ ...timer, at: this.now + timer.interval, seq: this.nextSeq++ });
    this.stepOwner = timer.owner;
    try {
      timer.fn();
    } catch (error) {
      this.thrown.push({ owner: timer.owner, error });
    }
  }

  /** Virtual time since the start, for traces: `+12.345s`. */
  stamp(at = this.now): string {
    return `+${((at - this.start) / 1000).toFixed(3)}s`;
  }
}
