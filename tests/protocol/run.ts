/**
 * One interleaving: build the world of a scenario, play it with a chooser, heal it, check
 * convergence, and report what was violated along with the readable trace.
 */
import type { Library } from './library.js';
import type { WorldSpec } from './scenario.js';
import type { Chooser } from './scheduler.js';
import { converge } from './convergence.js';
import { World, type Violation } from './world.js';

export interface RunResult {
  violations: Violation[];
  trace: string[];
  steps: number;
  tokenCalls: number;
  requests: number;
}

export async function runScenario(lib: Library, spec: WorldSpec, chooser: Chooser): Promise<RunResult> {
  const world = new World(lib, spec, chooser);
  try {
    await world.open();
    await world.play();
    if (world.violations.length === 0) await world.heal();
    if (world.violations.length === 0) await converge(world);
  } finally {
    await world.close();
  }
  return { violations: world.violations, trace: world.sched.trace, ...world.stats };
}
