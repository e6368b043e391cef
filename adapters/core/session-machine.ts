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
  type RefreshMachine,
  type RefreshMachineOptions,
  type RefreshSuccess,
  type RefreshInput,
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

/** Create (not start) the session's actor. */
export function createSessionActor(deps: SessionMachineDeps): Actor<RefreshMachine> {
  // Only the statechart's own tunables: the input is visible to inspectors, and the session's
  // options hold tokens (`tokens`) and functions.
  const input: Partial<RefreshMachineOptions> = {};
  for (const key of Object.keys(defaultRefreshOptions) as (keyof RefreshMachineOptions)[]) {
    (input as Record<string, unknown>)[key] = deps.options[key];
  }
  const actor = createActor(machineFor(deps.now), { input, inspect: deps.inspect, clock: unrefClock });
  depsOf.set(actor, deps);
  return actor;
}
