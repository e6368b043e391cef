/**
 * The micro-benchmarks as a process of their own: `bench/run.ts` bundles this file with
 * esbuild (as tsup bundles the package, so no development transform is measured) and runs
 * it with `--expose-gc`. Prints one JSON line: { hotPath, release }.
 */
import { hotPath, release } from './micro.js';

const quick = process.argv.includes('--quick');
const progress = (line: string) => process.stderr.write(`  ${line}\n`);

progress('hot path (valid token), tinybench…');
const hot = await hotPath({ timeMs: quick ? 200 : 1_500 });
const queued = await release({ count: quick ? 1_000 : 10_000, runs: quick ? 1 : 3, progress });
process.stdout.write(`${JSON.stringify({ hotPath: hot, release: queued })}\n`);
