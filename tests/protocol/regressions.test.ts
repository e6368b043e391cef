/**
 * The defects found by the explorer, each kept as a named regression (regressions.json).
 *
 * A fixed defect is guarded twice: its recorded interleaving is replayed and must keep every
 * invariant, and its family of scenarios (families.ts) is explored again, seeded and bounded,
 * and must keep every invariant too. The second matters because a recorded schedule is a list
 * of choices among pending events: once the code changes, the same choices pick other events,
 * so a schedule recorded on the broken code no longer steers the fixed code into the
 * situation it was found in. The family does, in any of its interleavings.
 *
 * A defect still open on this branch (known-defects.ts) must reproduce the violation recorded
 * when it was found; once it no longer does (fixed), remove it from that list.
 *
 * `AUTHCHART_EXPLORE=long` explores 300 interleavings per family (12 otherwise);
 * `AUTHCHART_FAMILY_RUNS=<n>` sets it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { exploreRandom, formatFailure, formatTotals } from './explore.js';
import { WITNESSES } from './families.js';
import { gated, KNOWN_DEFECTS } from './known-defects.js';
import { project } from './library.js';
import { REGRESSION_FAMILIES, REGRESSIONS_FILE, type Regression } from './regressions.js';
import { runScenario } from './run.js';
import { choicesChooser } from './scheduler.js';

const recorded = JSON.parse(readFileSync(REGRESSIONS_FILE, 'utf8')) as Record<string, Regression>;
const LONG = process.env.AUTHCHART_EXPLORE === 'long';
const FAMILY_RUNS = Number(process.env.AUTHCHART_FAMILY_RUNS ?? (LONG ? 300 : 12));

async function replay(name: string, regression: Regression) {
  const spec = name === 'idle-refresh' ? regression.spec : gated(regression.spec);
  const result = await runScenario(project, spec, choicesChooser(regression.choices));
  return { spec, result };
}

describe('regressions found by the explorer', () => {
  it('every regression family has a recorded interleaving, and every known defect a regression', () => {
    expect(Object.keys(recorded).sort()).toEqual(Object.keys(REGRESSION_FAMILIES).sort());
    for (const name of KNOWN_DEFECTS) expect(recorded).toHaveProperty(name);
  });

  for (const [name, regression] of Object.entries(recorded)) {
    if (KNOWN_DEFECTS.has(name)) {
      it(`${name} (open): ${regression.title} — still reproduces`, async () => {
        const { result } = await replay(name, regression);
        const expected = /^\[([a-z-]+)\]/.exec(regression.failure[0]!)![1];
        expect(
          result.violations.map((v) => v.invariant),
          `${name} no longer reproduces its recorded failure (${regression.failure[0]}). If it is fixed, remove it from KNOWN_DEFECTS (tests/protocol/known-defects.ts).`,
        ).toContain(expected);
      });
      continue;
    }
    it(`${name}: ${regression.title} — its recorded interleaving keeps every invariant`, async () => {
      const { spec, result } = await replay(name, regression);
      if (result.violations.length > 0) {
        expect.fail(`\n${formatFailure({ seed: regression.found.seed, path: regression.found.path, spec, choices: regression.choices, result }, 40)}`);
      }
    });
    it(
      `${name}: its family "${regression.family}" keeps every invariant (${FAMILY_RUNS} seeded interleavings)`,
      async () => {
        const { family, strictClockRule } = REGRESSION_FAMILIES[name as keyof typeof REGRESSION_FAMILIES];
        const scenarios = strictClockRule ? family : family.map((spec) => gated(spec));
        const witness = WITNESSES[regression.family];
        const report = await exploreRandom({
          lib: project,
          runs: FAMILY_RUNS,
          seed: regression.found.seed,
          scenarios,
          timeLimitMs: LONG ? 600_000 : 30_000,
          ...(witness ? { witness } : {}),
        });
        console.info(formatTotals(`regression ${name}, family ${regression.family}`, report.totals));
        if (report.failure) expect.fail(`\n${formatFailure(report.failure, 60)}`);
        // A family that never meets its situation guards nothing (the code around it changed).
        if (witness) expect(report.totals.witnessed, `no interleaving of ${regression.family} met its situation`).toBeGreaterThan(0);
      },
      LONG ? 900_000 : 60_000,
    );
  }
});
