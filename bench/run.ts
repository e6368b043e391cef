/**
 * `npm run bench`: every strategy through every scenario in one run, against real HTTP
 * servers on 127.0.0.1, then the micro-benchmarks and bundle sizes; writes bench/RESULTS.md.
 * Bounded: fixed repetitions, and past TIME_BUDGET_MS the remaining repetitions are skipped.
 *
 *   npm run bench               the full run (a few minutes)
 *   npm run bench -- --quick    small N, one repetition, written to the system temp dir
 *   npm run bench -- --render   write RESULTS.md again from the last run's figures (kept in
 *                               node_modules/.cache/authchart-bench), e.g. after editing report.ts
 *   npm run bench -- --micro    the micro-benchmarks alone (hot path, release, costs), printed, nothing written
 *   npm run bench -- --costs    the cost-per-unit figures (waiting requests, idle sessions, store
 *                               round trips, sizes), written into the "Cost per unit" section of RESULTS.md
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { POOL_SIZE } from './io.js';
import type { IdleRow, RoundTripRow } from './costs.js';
import type { HotPathRow, ReleaseRow } from './micro.js';
import { renderCosts } from './costs-report.js';
import { placeSection, sectionOf } from './sections.js';
import { renderReport, type RunReport } from './report.js';
import { flaky, herd, runCell, startLab, steady, tabs, type CellResult, type Lab, type Scenario } from './scenarios.js';
import { bundleSizes, type SizeRow } from './size.js';
import { strategies } from './strategies.js';

const quick = process.argv.includes('--quick');
const CACHE = join(process.cwd(), 'node_modules', '.cache', 'authchart-bench');
/** What a run writes: bench/RESULTS.md, or for `--quick` a file in the system temp dir. */
const resultsFile = quick ? join(tmpdir(), 'authchart-RESULTS.quick.md') : fileURLToPath(new URL('./RESULTS.md', import.meta.url));
const TIME_BUDGET_MS = 8 * 60_000;
const TOKEN_LATENCY_MS = 50;
const LONG_TTL_S = 3_600;
const SHORT_TTL_S = 2;

const scenarios: Scenario[] = quick
  ? [herd(10, 1), herd(100, 1), tabs(1), steady(1, { pollers: 2, intervalMs: 100, durationMs: 2_500, leewayMs: 250 }), flaky(1, 10)]
  : [herd(10, 5), herd(100, 5), herd(1_000, 3), herd(10_000, 2), tabs(5), steady(2), flaky(3)];

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s`;
const say = (line: string) => console.log(`[${elapsed()}] ${line}`);

async function runScenarios(labs: Record<Scenario['lab'], Lab>, skipped: string[]): Promise<CellResult[]> {
  const cells: CellResult[] = [];
  for (const scenario of scenarios) {
    for (let rep = 0; rep < scenario.reps; rep++) {
      if (rep > 0 && performance.now() - started > TIME_BUDGET_MS) {
        skipped.push(`${scenario.label}: runs ${rep + 1}–${scenario.reps}`);
        say(`time budget reached: skipping the remaining runs of ${scenario.label}`);
        break;
      }
      // Round-robin: each repetition starts with the next strategy.
      const order = strategies.map((_, i) => strategies[(i + rep) % strategies.length]!);
      for (const strategy of order) {
        const cell = await runCell(scenario.plan(strategy, rep, labs[scenario.lab]));
        cells.push(cell);
        say(
          `${scenario.key} run ${rep + 1}/${scenario.reps} ${strategy.key.padEnd(18)} token calls ${String(cell.tokenCalls).padStart(4)}  ok ${cell.ok}/${cell.requests}  alive ${cell.alive ? 'yes' : 'no '}  p99 ${cell.p99 === null ? '—' : `${cell.p99.toFixed(0)} ms`}`,
        );
      }
    }
  }
  return cells;
}

/** The micro-benchmarks run bundled (as the package ships) in a child process with --expose-gc. */
type MicroResult = { hotPath: HotPathRow[]; release: ReleaseRow[]; idle: IdleRow[]; roundTrips: RoundTripRow[] };

async function runMicro(extra: string[] = []): Promise<MicroResult | null> {
  mkdirSync(CACHE, { recursive: true });
  const outfile = join(CACHE, 'micro.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./micro-main.ts', import.meta.url))],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  const child = spawnSync(process.execPath, ['--expose-gc', outfile, ...(quick ? ['--quick'] : []), ...extra], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    // Bounded; a loaded 2-core machine needs a few minutes for all of it.
    timeout: 420_000,
  });
  if (child.status !== 0) {
    say(`micro-benchmarks failed (exit ${child.status ?? child.signal})`);
    return null;
  }
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as MicroResult;
}

async function main() {
  const loadBefore = loadavg();
  say(
    `authchart bench${quick ? ' (quick)' : ''}: ${strategies.length} strategies, ${scenarios.length} scenarios, token endpoint latency ${TOKEN_LATENCY_MS} ms, pool ${POOL_SIZE}`,
  );
  const labs = { long: await startLab(LONG_TTL_S, TOKEN_LATENCY_MS), short: await startLab(SHORT_TTL_S, TOKEN_LATENCY_MS) };
  say(`servers: ${labs.long.http.tokenEndpoint} (${LONG_TTL_S} s tokens), ${labs.short.http.tokenEndpoint} (${SHORT_TTL_S} s tokens)`);
  const skipped: string[] = [];
  let cells: CellResult[];
  try {
    cells = await runScenarios(labs, skipped);
  } finally {
    await labs.long.http.close();
    await labs.short.http.close();
  }

  say('micro-benchmarks (bundled, --expose-gc)…');
  const micro = await runMicro();
  for (const row of micro?.hotPath ?? [])
    say(`hot path ${row.name.padEnd(34)} ${row.nsPerRequest.toFixed(0).padStart(6)} ns/request${row.baseline ? `, +${row.addedNs.toFixed(0)} ns` : ''}`);

  say('bundle sizes (tsup build, esbuild, min+gzip)…');
  let sizes: SizeRow[] | null = null;
  try {
    sizes = await bundleSizes();
  } catch (error) {
    say(`bundle sizes failed: ${(error as Error).message}`);
  }

  const report: RunReport = {
    date: new Date().toISOString(),
    command: quick ? 'npm run bench -- --quick' : 'npm run bench',
    durationS: (performance.now() - started) / 1000,
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown CPU',
      cores: cpus().length,
      node: process.version,
      os: `${platform()} ${release()}`,
      memoryGb: totalmem() / 1024 ** 3,
      loadBefore,
      loadAfter: loadavg(),
    },
    settings: { poolSize: POOL_SIZE, tokenLatencyMs: TOKEN_LATENCY_MS, longTtlS: LONG_TTL_S, shortTtlS: SHORT_TTL_S },
    scenarios,
    strategies,
    cells,
    skipped,
    hotPath: micro?.hotPath ?? null,
    release: micro?.release ?? null,
    sizes,
    notes: [`Free memory at the end: ${(freemem() / 1024 ** 3).toFixed(1)} GB.`],
  };
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(join(CACHE, quick ? 'last-quick-run.json' : 'last-run.json'), JSON.stringify({ ...report, scenarios: undefined, strategies: undefined }));
  const costs = micro
    ? renderCosts({ date: report.date, release: micro.release, idle: micro.idle, roundTrips: micro.roundTrips, sizes, loadavg: loadavg() })
    : undefined;
  write(report, costs);
}

type StoredReport = Omit<RunReport, 'scenarios' | 'strategies'>;

/**
 * Write RESULTS.md; `costs` is a fresh cost-per-unit section, else the file's present one is
 * kept, and so is its scale section (`npm run bench:scale` writes it).
 */
function write(report: RunReport, costs?: string): void {
  let markdown = renderReport(report);
  const present = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8') : '';
  const scale = sectionOf(present, 'scale');
  if (scale) markdown = placeSection(markdown, 'scale', scale);
  const kept = costs ?? sectionOf(present, 'costs');
  if (kept) markdown = placeSection(markdown, 'costs', kept);
  writeFileSync(resultsFile, markdown);
  const headline = markdown.slice(markdown.indexOf('## Headline'), markdown.indexOf('## Scenarios'));
  console.log(`\n${headline}`);
  say(`wrote ${resultsFile}`);
}

/** `--render`: the last run's figures, through the current report.ts. */
function render(): void {
  const stored = JSON.parse(readFileSync(join(CACHE, quick ? 'last-quick-run.json' : 'last-run.json'), 'utf8')) as StoredReport;
  const ran = new Set(stored.cells.map((cell) => cell.scenario));
  write({
    ...stored,
    scenarios: scenarios.filter((s) => ran.has(s.key)),
    strategies: strategies.filter((s) => stored.cells.some((c) => c.strategy === s.key)),
  });
}

/** `--micro`: the micro-benchmarks alone, printed (a minute; nothing is written). */
async function microOnly(): Promise<void> {
  const micro = await runMicro();
  if (!micro) throw new Error('micro-benchmarks failed');
  for (const row of micro.hotPath)
    say(`hot path ${row.name.padEnd(34)} ${row.nsPerRequest.toFixed(0).padStart(6)} ns/request${row.baseline ? `, +${row.addedNs.toFixed(0)} ns` : ''}`);
  for (const row of micro.release)
    say(
      `release ${row.count} ${row.name.padEnd(34)} ${row.releaseMs.toFixed(1)} ms, ${row.bytesPerRequest?.toFixed(0) ?? '—'} B/request, ${row.failed} failed`,
    );
  printCosts(micro);
}

function printCosts(micro: MicroResult): void {
  for (const row of micro.idle) say(`idle ${row.name.padEnd(40)} ${row.bytesPerUnit?.toFixed(0) ?? '—'} B`);
  for (const row of micro.roundTrips)
    say(`round trips ${row.store.padEnd(20)} ${row.commands} commands for ${row.requests} requests (first request: ${row.firstRequestCommands})`);
}

/** `--costs`: release, idle sessions, round trips and sizes; rewrites the "Cost per unit" section of RESULTS.md. */
async function costs(): Promise<void> {
  const micro = await runMicro(['--costs']);
  if (!micro) throw new Error('cost benchmarks failed');
  printCosts(micro);
  const sizes = await bundleSizes();
  const current = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8') : '# authchart benchmarks\n';
  const section = renderCosts({
    date: new Date().toISOString(),
    release: micro.release,
    idle: micro.idle,
    roundTrips: micro.roundTrips,
    sizes,
    loadavg: loadavg(),
  });
  writeFileSync(resultsFile, placeSection(current, 'costs', section));
  say(`wrote the cost-per-unit section of ${resultsFile}`);
}

const mode = process.argv.includes('--render')
  ? Promise.resolve().then(render)
  : process.argv.includes('--micro')
    ? microOnly()
    : process.argv.includes('--costs')
      ? costs()
      : main();
mode.catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
