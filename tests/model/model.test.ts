/**
 * Model-based tests generated from the statechart (xstate/graph) and run against the real
 * fetch front end, token server and fake clock. See tests/model/model.ts for how paths are
 * generated and run-path.ts for what each step checks.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { refreshMachine } from '../../machines/refresh.machine.js';
import { useMockNetwork } from '../support/harness.js';
import { createModel, definedTransitions, generatePaths } from './model.js';
import { runPath } from './run-path.js';
import { createWorld } from './world.js';

useMockNetwork();

const model = createModel(refreshMachine);
const generated = generatePaths(model);
const exercised = new Set<string>();
const started = Date.now();

describe('paths generated from the statechart, run against createAuthFetch', () => {
  afterAll(() => {
    console.info(
      `[model] ${generated.paths.length} paths (${generated.nodes} nodes, ${generated.edges} edges) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  });

  it.each(generated.paths.map((path, i) => [i + 1, path.origin, path.description, path] as const))('path %i (%s): %s', async (_i, _origin, _d, path) => {
    const world = await createWorld();
    const result = await runPath(world, path, model.startArmed);
    for (const id of result.taken) exercised.add(id);
  });
});

describe('coverage, computed from the machine definition', () => {
  const universe = definedTransitions(refreshMachine);

  it('every transition of the machine is on a generated path', () => {
    const onPaths = new Set(generated.paths.flatMap((p) => p.steps.flatMap((s) => s.taken)));
    expect(universe.filter((t) => !onPaths.has(t.id)).map((t) => t.id)).toEqual([]);
  });

  it('every transition of the machine was taken by the real actor while the paths ran', () => {
    const missing = universe.filter((t) => !exercised.has(t.id)).map((t) => t.id);
    console.info(`[model] transitions exercised: ${universe.length - missing.length} / ${universe.length}`);
    expect(missing).toEqual([]);
  });
});
