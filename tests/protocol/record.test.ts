/**
 * Not part of the suite: explores each regression's family on the code as it is, shrinks what
 * it finds and writes the interleaving and its failure output to regressions.json. Run it by
 * hand when the world model changes (the recorded schedules index its pending events):
 *   AUTHCHART_RECORD=1 npx vitest run tests/protocol/record.test.ts
 *   AUTHCHART_RECORD=1 ONLY=born-expired,idle-refresh npx vitest run tests/protocol/record.test.ts
 * A defect fixed already is recorded on the code before its fix, copied into `.scratch/`:
 *   git archive <commit> adapters machines | tar -x -C .scratch/before
 *   AUTHCHART_RECORD=1 AUTHCHART_LIB=.scratch/before AUTHCHART_FOUND_ON=<commit> ONLY=… npx vitest run tests/protocol/record.test.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { it } from 'vitest';
import { exploreRandom, formatTotals } from './explore.js';
import { WITNESSES } from './families.js';
import { gated } from './known-defects.js';
import { resolve } from 'node:path';
import { loadLibrary, project } from './library.js';
import { REGRESSIONS_FILE, REGRESSION_FAMILIES, type Regression } from './regressions.js';

it.runIf(process.env.AUTHCHART_RECORD)(
  'record the regressions found by each family',
  async () => {
    const path = REGRESSIONS_FILE;
    const recorded = JSON.parse(readFileSync(path, 'utf8')) as Record<string, Regression>;
    const only = process.env.ONLY?.split(',');
    const lib = process.env.AUTHCHART_LIB ? await loadLibrary(resolve(process.env.AUTHCHART_LIB), process.env.AUTHCHART_LIB) : project;
    const foundOn = process.env.AUTHCHART_FOUND_ON ?? 'HEAD';
    for (const [name, { title, family, familyName, strictClockRule }] of Object.entries(REGRESSION_FAMILIES)) {
      if (only && !only.includes(name)) continue;
      const t0 = performance.now();
      const scenarios = strictClockRule ? family : family.map((spec) => gated(spec, new Set(['idle-refresh'])));
      const witness = WITNESSES[familyName];
      const report = await exploreRandom({
        lib,
        runs: Number(process.env.RUNS ?? 400),
        ...(witness ? { witness } : {}),
        seed: Number(process.env.SEED ?? 1),
        timeLimitMs: 120_000,
        scenarios,
      });
      console.log(formatTotals(name, report.totals, ` ${Math.round(performance.now() - t0)} ms`));
      if (!report.failure) {
        console.log(`  ${name}: not found`);
        continue;
      }
      const { seed, path: fcPath, spec, choices, result } = report.failure;
      recorded[name] = {
        title,
        family: familyName,
        found: { seed: seed!, path: fcPath!, interleavings: report.totals.interleavings },
        foundOn,
        spec: { ...spec, refreshesPerLifetime: 1 },
        choices,
        failure: result.violations.map((v) => `[${v.invariant}] ${v.message}`),
        trace: result.trace.length > 60 ? ['…', ...result.trace.slice(-60)] : result.trace,
      };
    }
    writeFileSync(path, `${JSON.stringify(recorded, null, 1)}\n`);
  },
  3_600_000,
);
