/**
 * The generated suite must not be blind: run inside createAuthFetch, a deliberately broken
 * copy of the statechart has to make at least one generated path fail, while the paths
 * are still generated from the real (specification) machine.
 */
import { createMachine, type AnyStateMachine } from 'xstate';
import { describe, expect, it, vi } from 'vitest';
import type * as MachineModule from '../../machines/refresh.machine.js';
import { useMockNetwork } from '../support/harness.js';
import { createModel, generatePaths } from './model.js';
import { runPath, StepError } from './run-path.js';
import { createWorld } from './world.js';

/** The machine the session under test runs; undefined: the real one. */
const underTest = vi.hoisted(() => ({ machine: undefined as AnyStateMachine | undefined }));

vi.mock('../../machines/refresh.machine.js', async (importOriginal) => {
  const actual = await importOriginal<typeof MachineModule>();
  return {
    ...actual,
    // Sessions read the module's refreshMachine when they are made: hand them the machine under test.
    get refreshMachine() {
      return underTest.machine ?? actual.refreshMachine;
    },
  };
});

useMockNetwork();

const spec = (await vi.importActual<typeof MachineModule>('../../machines/refresh.machine.js')).refreshMachine;
const model = createModel(spec);
const { paths } = generatePaths(model);

type Config = { states: Record<string, { on?: Record<string, unknown> }> };

/** A copy of the specification with its definition or implementations changed. */
function broken(change: {
  config?: (config: Config) => void;
  guards?: Record<string, (args: { context: MachineModule.RefreshContext; event: unknown }) => boolean>;
  delays?: Record<string, () => number>;
}): AnyStateMachine {
  const config = structuredClone(stripFunctions(spec.config)) as Config;
  restoreFunctions(config, spec.config);
  change.config?.(config);
  const implementations = spec.implementations as unknown as { guards: object; delays: object };
  return createMachine(
    config as never,
    {
      ...spec.implementations,
      guards: { ...implementations.guards, ...change.guards },
      delays: { ...implementations.delays, ...change.delays },
    } as never,
  );
}

// The config holds functions (inline actions, context factory); clone the data and put them back.
function stripFunctions(value: unknown): unknown {
  if (typeof value === 'function') return null;
  if (Array.isArray(value)) return value.map(stripFunctions);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stripFunctions(v)]));
  return value;
}
function restoreFunctions(target: Record<string, unknown> | unknown[], source: Record<string, unknown> | unknown[]): void {
  for (const [key, value] of Object.entries(source)) {
    if (typeof value === 'function') (target as Record<string, unknown>)[key] = value;
    else if (value && typeof value === 'object') restoreFunctions((target as Record<string, Record<string, unknown>>)[key]!, value as Record<string, unknown>);
  }
}

/** Run the generated paths until one fails; returns the first failure, or null. */
async function firstFailure(): Promise<{ path: number; message: string } | null> {
  for (const [index, path] of paths.entries()) {
    const world = await createWorld();
    try {
      await runPath(world, path, model.startArmed);
    } catch (error) {
      await world.dispose().catch(() => undefined);
      if (!(error instanceof StepError)) throw error;
      return { path: index + 1, message: error.message.split('\n')[0]! };
    } finally {
      vi.unstubAllGlobals();
    }
  }
  return null;
}

const variants: [string, Parameters<typeof broken>[0]][] = [
  ['the stale-401 guard is lost, so a late 401 starts a second refresh', { guards: { isStale: () => false } }],
  [
    'a 401 during a refresh restarts it (a second refresh for one expiry)',
    {
      config: (c) => {
        c.states.refreshing!.on!.UNAUTHORIZED = { target: 'refreshing', reenter: true, actions: 'joinQueue' };
      },
    },
  ],
  [
    'the debounce window is extended by every 401 in it',
    {
      config: (c) => {
        c.states.debouncing!.on!.UNAUTHORIZED = { target: 'debouncing', reenter: true, actions: 'joinQueue' };
      },
    },
  ],
  ['the backoff does not grow (1 s every time)', { delays: { backoff: () => 1000 } }],
  [
    'the session ends after two permanent failures instead of three',
    {
      guards: {
        permanentLimitReached: ({ context, event }) =>
          (event as { error?: { kind?: string } }).error?.kind === 'permanent' && context.permanentFailures + 2 >= 3,
      },
    },
  ],
];

// Each case runs up to every generated path (CPU only, fake time): on a busy machine that
// takes several times longer, which is not a failure. The bound only stops a hang.
const CPU_BOUND_MS = 180_000;

describe('a broken statechart makes the generated suite fail', () => {
  it(
    'the unbroken copy passes (the breaking helper changes nothing by itself)',
    async () => {
      underTest.machine = broken({});
      expect(await firstFailure()).toBeNull();
    },
    CPU_BOUND_MS,
  );

  it.each(variants)(
    'caught: %s',
    async (_name, change) => {
      underTest.machine = broken(change);
      const failure = await firstFailure();
      expect(failure, 'every generated path passed against the broken machine').not.toBeNull();
      console.info(`[model] caught by path ${failure!.path}: ${failure!.message}`);
    },
    CPU_BOUND_MS,
  );
});
