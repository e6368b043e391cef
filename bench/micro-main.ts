/**
 * The micro-benchmarks as a process of their own: `bench/run.ts` bundles this file with
 * esbuild (as tsup bundles the package, so no development transform is measured) and runs
 * it with `--expose-gc`. Prints one JSON line: { hotPath, release, idle, roundTrips }.
 * With `--costs`, the cost-per-unit figures only (release, idle sessions, round trips).
 */
import { idleSessions, roundTrips } from './costs.js';
import { hotPath, release } from './micro.js';

const quick = process.argv.includes('--quick');
const costsOnly = process.argv.includes('--costs');
const progress = (line: string) => process.stderr.write(`  ${line}\n`);

progress('hot path (valid token), tinybench…');
const hot = costsOnly ? [] : await hotPath({ timeMs: quick ? 200 : 1_500 });
const queued = await release({ count: quick ? 1_000 : 10_000, runs: quick ? 1 : 3, progress });
progress('heap per idle session…');
const idle = await idleSessions({ count: quick ? 500 : 2_000, runs: quick ? 1 : 3 });
progress('store round trips on the valid-token path…');
const trips = await roundTrips({ requests: quick ? 100 : 1_000, postgres: true, progress });
process.stdout.write(`${JSON.stringify({ hotPath: hot, release: queued, idle, roundTrips: trips })}\n`);
