/**
 * The chaos soak in `npm test`: about 20 seconds of episodes (each an hour of simulated time
 * with random faults), every invariant checked throughout. `npm run soak` runs the long one.
 * Seeded: the seed is printed; `AUTHCHART_SOAK_SEED=<seed>` plays the same run again.
 */
import { describe, expect, it } from 'vitest';
import { useMockNetwork } from '../support/harness.js';
import { seedFrom } from './random.js';
import { runSoak } from './soak.js';

useMockNetwork();

const long = process.env.AUTHCHART_SOAK === 'long';
/** The default seed of `npm test` is fixed, so a failure there is the same on every machine; `npm run soak` draws one. */
const seed = seedFrom(process.env.AUTHCHART_SOAK_SEED, () => (long ? Math.floor(Math.random() * 2 ** 32) : 20_261_130));
const episodes = process.env.AUTHCHART_SOAK_EPISODES ? Number(process.env.AUTHCHART_SOAK_EPISODES) : undefined;
const budgetMs = Number(process.env.AUTHCHART_SOAK_BUDGET_MS ?? (long ? 180_000 : 15_000));

describe('chaos soak', () => {
  it(
    `holds every invariant under random faults (seed ${seed})`,
    async () => {
      console.log(`chaos soak: seed ${seed}${episodes === undefined ? `, episodes for ${budgetMs / 1000} s` : `, ${episodes} episodes`} (replay with AUTHCHART_SOAK_SEED=${seed})`);
      const report = await runSoak({
        seed,
        budgetMs,
        episodes,
        onEpisode: (e) => long && console.log(`episode ${e.index}: ${e.lifetimeS} s tokens, ${e.format}, ${e.server} server, ${e.tokenCalls} token calls`),
      });
      console.log(report.table);
      expect(report.ledger.describeViolations(), `seed ${seed}`).toEqual([]);
      // A soak that checked nothing proves nothing.
      for (const [name, tally] of report.ledger.held) expect(tally.checks, name).toBeGreaterThan(0);
    },
    long ? 600_000 : 120_000,
  );
});
