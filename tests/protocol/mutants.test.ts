/**
 * The explorer must not be blind: each broken copy of the protocol (mutants.ts) is caught in
 * its family of scenarios, while the unbroken protocol passes the same family.
 */
import { describe, expect, it } from 'vitest';
import { exploreRandom, formatTotals } from './explore.js';
import { WITNESSES } from './families.js';
import { gated } from './known-defects.js';
import { project } from './library.js';
import { MUTANTS, mutantLibrary, withPorts } from './mutants.js';

const LONG = process.env.AUTHCHART_EXPLORE === 'long';

describe('a broken protocol is caught by the explorer', () => {
  it.each(MUTANTS.map((m) => [m.familyName, m] as const))(
    'the unbroken protocol passes the family "%s"',
    async (_family, mutant) => {
      const witness = WITNESSES[mutant.familyName];
      const report = await exploreRandom({
        lib: project,
        runs: LONG ? 300 : 12,
        seed: 7,
        scenarios: mutant.family.map((spec) => gated(spec)),
        shrink: false,
        ...(witness ? { witness } : {}),
      });
      console.info(formatTotals(`unbroken, ${mutant.familyName}`, report.totals));
      expect(report.failure?.result.violations ?? []).toEqual([]);
    },
    120_000,
  );

  it.each(MUTANTS.map((m) => [m.name, m] as const))(
    'caught: %s',
    async (_name, mutant) => {
      const lib = await mutantLibrary(mutant);
      const report = await exploreRandom({
        lib,
        runs: LONG ? 300 : 40,
        seed: 7,
        scenarios: mutant.family.map((spec) => gated(withPorts(mutant, spec))),
        shrink: false,
      });
      expect(report.failure, `${mutant.breaks}: ${report.totals.interleavings} interleavings of ${mutant.familyName} passed`).not.toBeNull();
      const first = report.failure!.result.violations[0]!;
      console.info(`[protocol] mutant ${mutant.name} caught after ${report.totals.interleavings} interleavings: [${first.invariant}] ${first.message}`);
    },
    120_000,
  );
});
