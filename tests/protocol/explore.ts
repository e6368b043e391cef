/**
 * Exploration of interleavings.
 *
 * - Random: fast-check generates a scenario and a list of scheduling choices, plays them,
 *   and on a violation shrinks both (fewer actions, fewer non-default choices) and reports
 *   the seed and path that replay it, the shrunk scenario and schedule, and the trace.
 * - Bounded exhaustive: for one small scenario, every schedule with at most `preemptions`
 *   non-default choices (the oldest pending event first is the default), depth first,
 *   replaying the world from scratch for each (stateless model checking).
 */
import fc from 'fast-check';
import type { Library } from './library.js';
import { runScenario, type RunResult } from './run.js';
import { choicesArbitrary, scenarioArbitrary, type Features, type WorldSpec } from './scenario.js';
import { choicesChooser, type Chooser } from './scheduler.js';

export interface Totals {
  interleavings: number;
  steps: number;
  tokenCalls: number;
  requests: number;
  /** Interleavings that met the family's situation (when a witness is given). */
  witnessed?: number;
}

export interface Failure {
  seed: number | null;
  path: string | null;
  spec: WorldSpec;
  choices: number[];
  result: RunResult;
}

export interface ExploreReport {
  totals: Totals;
  failure: Failure | null;
  /** Exhaustive: whether every schedule within the bound was played. */
  complete?: boolean;
}

const emptyTotals = (): Totals => ({ interleavings: 0, steps: 0, tokenCalls: 0, requests: 0 });

function add(totals: Totals, result: RunResult): void {
  totals.interleavings++;
  totals.steps += result.steps;
  totals.tokenCalls += result.tokenCalls;
  totals.requests += result.requests;
}

/** Random exploration with fast-check; shrinks and replays a failure. */
export async function exploreRandom(options: {
  lib: Library;
  runs: number;
  seed?: number;
  features?: Features;
  scenarios?: fc.Arbitrary<WorldSpec>;
  /** Stop exploring (not shrinking) after this long; fast-check reports what it ran. */
  timeLimitMs?: number;
  /** Shrink a failure (default); mutant checks only need to know that one was found. */
  shrink?: boolean;
  /** Whether a run met the situation the scenarios aim at (counted in `totals.witnessed`). */
  witness?: (trace: string[]) => boolean;
}): Promise<ExploreReport> {
  const totals = emptyTotals();
  if (options.witness) totals.witnessed = 0;
  const scenarios = options.scenarios ?? scenarioArbitrary(options.features);
  let exploring = true;
  const details = await fc.check(
    fc.asyncProperty(scenarios, choicesArbitrary, async (spec, choices) => {
      const result = await runScenario(options.lib, spec, choicesChooser(choices));
      if (exploring) {
        add(totals, result);
        if (options.witness?.(result.trace)) totals.witnessed!++;
      }
      if (result.violations.length > 0) exploring = false;
      return result.violations.length === 0;
    }),
    {
      numRuns: options.runs,
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.timeLimitMs !== undefined ? { skipAllAfterTimeLimit: options.timeLimitMs } : {}),
      // Shrinking replays the world hundreds of times; bound it.
      interruptAfterTimeLimit: (options.timeLimitMs ?? 60_000) + 60_000,
      markInterruptAsFailure: false,
      endOnFailure: options.shrink === false,
    },
  );
  if (!details.failed || !details.counterexample) return { totals, failure: null };
  const [spec, choices] = details.counterexample;
  const result = await runScenario(options.lib, spec, choicesChooser(choices));
  return { totals, failure: { seed: details.seed, path: details.counterexamplePath, spec, choices: trimChoices(choices), result } };
}

function trimChoices(choices: number[]): number[] {
  const out = [...choices];
  while (out.length && out.at(-1) === 0) out.pop();
  return out;
}

/** Every schedule of `spec` with at most `preemptions` non-default choices (up to `maxPaths`). */
export async function exploreExhaustive(options: { lib: Library; spec: WorldSpec; preemptions: number; maxPaths: number }): Promise<ExploreReport> {
  const totals = emptyTotals();
  let prefix: number[] = [];
  for (;;) {
    const taken: number[] = [];
    const counts: number[] = [];
    const chooser: Chooser = (n) => {
      const k = taken.length;
      const c = k < prefix.length ? prefix[k]! % n : 0;
      taken.push(c);
      counts.push(n);
      return c;
    };
    const result = await runScenario(options.lib, options.spec, chooser);
    add(totals, result);
    if (result.violations.length > 0) {
      return { totals, complete: false, failure: { seed: null, path: null, spec: options.spec, choices: trimChoices(taken), result } };
    }
    const next = nextPrefix(taken, counts, options.preemptions);
    if (!next) return { totals, complete: true, failure: null };
    if (totals.interleavings >= options.maxPaths) return { totals, complete: false, failure: null };
    prefix = next;
  }
}

/** The next schedule in depth-first order whose non-default choices stay within the bound. */
function nextPrefix(taken: number[], counts: number[], preemptions: number): number[] | null {
  const used = (upTo: number) => taken.slice(0, upTo).filter((c) => c !== 0).length;
  for (let j = taken.length - 1; j >= 0; j--) {
    if (taken[j]! + 1 < counts[j]! && used(j) + 1 <= preemptions) return [...taken.slice(0, j), taken[j]! + 1];
  }
  return null;
}

/** A failure as people read it: what broke, the seed, the scenario, the schedule and the trace. */
export function formatFailure(failure: Failure, traceLines = 80): string {
  const { result } = failure;
  const trace = result.trace.length > traceLines ? ['…', ...result.trace.slice(-traceLines)] : result.trace;
  return [
    `violated:`,
    ...result.violations.map((v) => `  [${v.invariant}] ${v.message}`),
    failure.seed !== null ? `replay: seed=${failure.seed} path="${failure.path}"` : 'replay: the schedule below (exhaustive exploration)',
    `scenario: ${JSON.stringify(failure.spec)}`,
    `schedule (choices): ${JSON.stringify(failure.choices)}`,
    `trace (${result.steps} steps):`,
    ...trace.map((line) => `  ${line}`),
  ].join('\n');
}

export function formatTotals(label: string, totals: Totals, extra = ''): string {
  const witnessed = totals.witnessed !== undefined ? `, ${totals.witnessed} of them in the family's situation` : '';
  return `[protocol] ${label}: ${totals.interleavings} interleavings${witnessed}, ${totals.steps} steps, ${totals.tokenCalls} token calls, ${totals.requests} requests${extra}`;
}
