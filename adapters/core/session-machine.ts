/**
 * The statechart as a session runs it: its delays and guards on the session's clock, its
 * refresh actor, and host timers that never keep a Node process alive on their own (R13:
 * a script that does one request and ends exits; requests that wait hold their own timers).
 */
import { createActor, fromPromise, type Actor, type InspectionEvent } from 'xstate';
import {
  defaultRefreshOptions,
  MAX_TIMER_MS,
  proactiveDelay,
  refreshMachine,
  selectSessionStatus,
  selectState,
  type RefreshContext,
  type RefreshEvent,
  type RefreshMachine,
  type RefreshMachineInput,
  type RefreshMachineOptions,
  type RefreshSuccess,
  type RefreshInput,
  type SessionStatus,
} from '../../machines/refresh.machine.js';

export interface SessionMachineDeps {
  options: RefreshMachineOptions;
  now: () => number;
  refresh: (input: RefreshInput, signal: AbortSignal) => Promise<RefreshSuccess>;
  inspect?: (event: InspectionEvent) => void;
}

/** Host timers, unref'd: a timer of the machine alone never keeps a process running. */
const unrefClock = {
  setTimeout(fn: (...args: unknown[]) => void, ms: number) {
    const timer = setTimeout(fn, ms);
    (timer as { unref?: () => void }).unref?.();
    return timer;
  },
  clearTimeout(id: unknown) {
    clearTimeout(id as ReturnType<typeof setTimeout>);
  },
};

/**
 * The statechart with the session's implementations, made once per statechart and clock and
 * shared by every session on that clock: `provide()` builds the whole tree of state nodes
 * again (about 20 KB of heap and a few milliseconds per call), which made it most of what an
 * idle session cost. What differs per session, the refresh, is found through the actor that
 * invoked it.
 */
const provided = new WeakMap<RefreshMachine, WeakMap<() => number, RefreshMachine>>();
/** Each session actor's dependencies, for the refresh its statechart invokes. */
const depsOf = new WeakMap<object, SessionMachineDeps>();

function machineFor(now: () => number): RefreshMachine {
  let byClock = provided.get(refreshMachine);
  if (!byClock) {
    byClock = new WeakMap();
    provided.set(refreshMachine, byClock);
  }
  let machine = byClock.get(now);
  if (!machine) {
    machine = refreshMachine.provide({
      delays: { proactive: ({ context }) => (context.inUse ? proactiveDelay(context.refreshAt, now()) : MAX_TIMER_MS) },
      guards: { refreshDue: ({ context }) => context.refreshAt !== null && now() >= context.refreshAt },
      actors: {
        refresh: fromPromise<RefreshSuccess, RefreshInput>(({ input, signal, self }) => {
          const deps = self._parent && depsOf.get(self._parent);
          if (!deps) return Promise.reject(new Error('[authchart] A refresh was invoked outside of a session; create sessions with createSession.'));
          return deps.refresh(input, signal);
        }),
      },
    });
    byClock.set(now, machine);
  }
  return machine;
}

/** The facts of the tokens a statechart holds: what an idle one that nothing uses is made of. */
type TokenFacts = Pick<RefreshContext, 'tokenVersion' | 'expiresAt' | 'refreshAt'>;

/** Create (not start) the session's actor, from the facts of the tokens it holds (none: it starts empty). */
function createSessionActor(deps: SessionMachineDeps, facts?: TokenFacts): Actor<RefreshMachine> {
  // Only the statechart's own tunables: the input is visible to inspectors, and the session's
  // options hold tokens (`tokens`) and functions.
  const input: RefreshMachineInput = {};
  for (const key of Object.keys(defaultRefreshOptions) as (keyof RefreshMachineOptions)[]) {
    (input as Record<string, unknown>)[key] = deps.options[key];
  }
  // Added one by one, not spread: a spread copy is given a hidden class of its own.
  if (facts) {
    input.tokenVersion = facts.tokenVersion;
    input.expiresAt = facts.expiresAt;
    input.refreshAt = facts.refreshAt;
  }
  const actor = createActor(machineFor(deps.now), { input, inspect: deps.inspect, clock: unrefClock });
  depsOf.set(actor, deps);
  return actor;
}

/** The facts of a statechart that holds no tokens yet, shared. */
const NO_TOKENS: TokenFacts = Object.freeze({ tokenVersion: 0, expiresAt: null, refreshAt: null });

/** What the session (and its store following) asks of its statechart. */
export interface MachinePort {
  send(event: RefreshEvent): void;
  hasTag(tag: 'loggedOut' | 'waiting'): boolean;
}

/** The statechart's part of `getStatus()`. */
export interface MachineReport extends Pick<RefreshContext, 'tokenVersion' | 'expiresAt' | 'attempt' | 'permanentFailures' | 'lastError' | 'loggedOutReason'> {
  state: ReturnType<typeof selectState>;
  status: SessionStatus;
}

/**
 * A session's statechart, started when first needed. A session that nothing has used yet
 * (no request, no 401, no sign-in or sign-out since it loaded) sits in `idle` with nothing
 * in use: its proactive timer is never due, and the events such a session gets (tokens
 * another tab stored, the host waking) change the facts of its tokens and nothing else. Until
 * then it is those facts alone, without an actor (most of what an idle session weighed). The
 * first event that needs more, or the first look at `session.actor`, starts the actor in
 * `idle` with those facts: the snapshot the statechart would have reached, event by event.
 * With an inspector (which sees the whole of the actor's life) or `keepAlive` (a proactive
 * timer that runs while nothing is in use), the actor is started at once.
 */
export class SessionMachine implements MachinePort {
  private running: Actor<RefreshMachine> | undefined = undefined;
  /** The facts of the tokens held while no actor runs. */
  private facts: TokenFacts = NO_TOKENS;
  private stopped = false;

  constructor(
    private readonly deps: SessionMachineDeps,
    /** Called with the actor once made, before it starts (to act on what it emits). */
    private readonly onStart: (actor: Actor<RefreshMachine>, machine: SessionMachine) => void,
  ) {
    if (deps.inspect || deps.options.keepAlive) this.start();
  }

  /** The actor, started now if it was not yet (stopped at once if the session was). */
  get actor(): Actor<RefreshMachine> {
    return this.running ?? this.start();
  }

  private start(): Actor<RefreshMachine> {
    const facts = this.facts;
    const actor = createSessionActor(this.deps, facts === NO_TOKENS ? undefined : facts);
    this.running = actor;
    this.onStart(actor, this);
    actor.start();
    if (this.stopped) actor.stop();
    return actor;
  }

  send(event: RefreshEvent): void {
    if (this.running) {
      this.running.send(event);
      return;
    }
    if (this.stopped) return;
    // In `idle` with nothing in use: new tokens re-enter `idle` with their facts (adoptTokens:
    // the rest of the context is as it starts), a wake re-enters it (the timer that is never
    // due re-armed). Any other event needs the statechart.
    if (event.type === 'TOKENS_UPDATED') {
      this.facts = { tokenVersion: event.tokenVersion, expiresAt: event.expiresAt ?? null, refreshAt: event.refreshAt ?? null };
      return;
    }
    if (event.type === 'WAKE') return;
    this.start().send(event);
  }

  hasTag(tag: 'loggedOut' | 'waiting'): boolean {
    return this.running?.getSnapshot().hasTag(tag) === true;
  }

  report(): MachineReport {
    if (!this.running) {
      const { tokenVersion, expiresAt } = this.facts;
      return { state: 'idle', status: 'authenticated', tokenVersion, expiresAt, attempt: 0, permanentFailures: 0, lastError: null, loggedOutReason: null };
    }
    const snapshot = this.running.getSnapshot();
    const { context } = snapshot;
    return {
      state: selectState(snapshot),
      status: selectSessionStatus(snapshot),
      tokenVersion: context.tokenVersion,
      expiresAt: context.expiresAt,
      attempt: context.attempt,
      permanentFailures: context.permanentFailures,
      lastError: context.lastError,
      loggedOutReason: context.loggedOutReason,
    };
  }

  /** Stop the actor (the session is disposed); one started later is stopped at once. */
  stop(): void {
    this.stopped = true;
    this.running?.stop();
  }
}
