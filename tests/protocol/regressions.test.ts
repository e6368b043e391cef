/**
 * The defects of this round, as the explorer found them on edef4ce: each replays its shrunk
 * interleaving. Fixed defects must keep every invariant. A defect still open on this branch
 * (known-defects.ts) must reproduce the violation recorded when it was found; once it no
 * longer does (fixed), remove it from that list so that its regression guards the fix.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatFailure } from './explore.js';
import { gated, KNOWN_DEFECTS } from './known-defects.js';
import { project } from './library.js';
import { REGRESSION_FAMILIES, REGRESSIONS_FILE, type Regression } from './regressions.js';
import { runScenario } from './run.js';
import { choicesChooser } from './scheduler.js';

const recorded = JSON.parse(readFileSync(REGRESSIONS_FILE, 'utf8')) as Record<string, Regression>;

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
    } else {
      it(`${name}: ${regression.title}`, async () => {
        const { spec, result } = await replay(name, regression);
        if (result.violations.length > 0) {
          expect.fail(`\n${formatFailure({ seed: regression.found.seed, path: regression.found.path, spec, choices: regression.choices, result }, 40)}`);
        }
      });
    }
  }
});
