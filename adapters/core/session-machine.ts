/**
 * The statechart as a session runs it: its delays and guards on the session's clock, its
 * refresh actor, and host timers that never keep a Node process alive on their own (R13:
 * a script that does one request and ends exits; requests that wait hold their own timers).
 */
import { createActor, fromPromise, type Actor, type InspectionEvent } from 'xstate';
import { defaultRefreshOptions, MAX_TIMER_MS, proactiveDelay, refreshMachine, type RefreshMachine, type RefreshMachineOptions, type RefreshSuccess, type RefreshInput } from '../../machines/refresh.machine.js';

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

/** Create (not start) the session's actor. */
export function createSessionActor(deps: SessionMachineDeps): Actor<RefreshMachine> {
  const { now } = deps;
  const machine = refreshMachine.provide({
    delays: { proactive: ({ context }) => (context.inUse ? proactiveDelay(context.refreshAt, now()) : MAX_TIMER_MS) },
    guards: { refreshDue: ({ context }) => context.refreshAt !== null && now() >= context.refreshAt },
    actors: { refresh: fromPromise<RefreshSuccess, RefreshInput>(({ input, signal }) => deps.refresh(input, signal)) },
  });
  // Only the statechart's own tunables: the input is visible to inspectors, and the session's
  // options hold tokens (`tokens`) and functions.
  const input: Partial<RefreshMachineOptions> = {};
  for (const key of Object.keys(defaultRefreshOptions) as (keyof RefreshMachineOptions)[]) {
    (input as Record<string, unknown>)[key] = deps.options[key];
  }
  return createActor(machine, { input, inspect: deps.inspect, clock: unrefClock });
}
