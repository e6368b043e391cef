/**
 * The chaos soak: episodes of simulated time, each seeded from the run's seed and its
 * number, until the episode count or the wall-clock budget is reached. The same seed plays
 * the same episodes, fault for fault (`AUTHCHART_SOAK_SEED`); the budget only decides how
 * many of them run (`AUTHCHART_SOAK_EPISODES` fixes the count).
 */
import { vi } from 'vitest';
import { FAULTS, INVARIANTS, Ledger, type Fault, type Invariant } from './ledger.js';
import { runEpisode, type EpisodeSummary } from './episode.js';
import { GROUPS } from './sessions.js';

export interface SoakOptions {
  seed: number;
  /** Stop starting episodes after this much wall-clock time. */
  budgetMs: number;
  /** Run exactly this many episodes (the budget is then ignored). */
  episodes?: number;
  /** Simulated length of one episode. */
  episodeMs?: number;
  /** Number of the first episode (episodes are seeded from the run's seed and their number: one can be replayed alone). */
  from?: number;
  /** Told after each episode (progress). */
  onEpisode?: (summary: EpisodeSummary) => void;
}

export interface SoakReport {
  seed: number;
  episodes: EpisodeSummary[];
  wallMs: number;
  ledger: Ledger;
  violations: number;
  table: string;
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const ledger = new Ledger();
  const episodes: EpisodeSummary[] = [];
  // The machine's clock, not the simulated one (fake timers fake performance.now too).
  const started = vi.getRealSystemTime();
  const wall = () => vi.getRealSystemTime() - started;
  const from = options.from ?? 0;
  for (let n = 0; options.episodes !== undefined ? n < options.episodes : n === 0 || wall() < options.budgetMs; n++) {
    const summary = await runEpisode(ledger, options.seed, from + n, options.episodeMs);
    episodes.push(summary);
    options.onEpisode?.(summary);
  }
  const report: SoakReport = { seed: options.seed, episodes, wallMs: wall(), ledger, violations: ledger.violations, table: '' };
  report.table = formatReport(report);
  return report;
}

const count = (n: number) => n.toLocaleString('en-US');

export function formatReport(report: Omit<SoakReport, 'table'>): string {
  const { seed, episodes, ledger } = report;
  const hours = episodes.reduce((sum, e) => sum + e.simulatedMs, 0) / 3_600_000;
  const calls = episodes.reduce((sum, e) => sum + e.tokenCalls, 0);
  const requests = episodes.reduce((sum, e) => sum + e.requests, 0);
  const lines: string[] = [];
  const minutes = (episodes[0]?.simulatedMs ?? 0) / 60_000;
  const from = episodes[0]?.index ?? 0;
  lines.push(
    `authchart chaos soak: seed ${seed} (replay: AUTHCHART_SOAK_SEED=${seed} AUTHCHART_SOAK_EPISODES=${episodes.length} AUTHCHART_SOAK_EPISODE_MINUTES=${minutes}${from > 0 ? ` AUTHCHART_SOAK_FROM=${from}` : ''}; one episode alone: AUTHCHART_SOAK_FROM=<n> AUTHCHART_SOAK_EPISODES=1)`,
  );
  lines.push(
    `${episodes.length} episodes, ${hours.toFixed(1)} simulated hours, ${GROUPS.reduce((n, g) => n + g.sessions, 0)} sessions in ${GROUPS.length} groups each, ${count(requests)} calls into sessions, ${count(calls)} token calls, ${(report.wallMs / 1000).toFixed(1)} s of wall-clock time`,
  );
  lines.push('');
  lines.push('| episode | token lifetime | token format | server | chaos / busy / idle segments | calls into sessions | token calls |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const e of episodes) {
    lines.push(
      `| ${e.index} | ${e.lifetimeS} s | ${e.format} | ${e.server} | ${e.segments.chaos} / ${e.segments.busy} / ${e.segments.idle} | ${count(e.requests)} | ${count(e.tokenCalls)} |`,
    );
  }
  lines.push('');
  lines.push('| injected | count |');
  lines.push('|---|---|');
  for (const fault of Object.keys(FAULTS) as Fault[]) lines.push(`| ${fault} | ${count(ledger.injected.get(fault) ?? 0)} |`);
  lines.push('');
  lines.push('| invariant | checks | violations |');
  lines.push('|---|---|---|');
  for (const invariant of Object.keys(INVARIANTS) as Invariant[]) {
    const tally = ledger.held.get(invariant)!;
    const excused =
      invariant === 'no rotated-away refresh token presented'
        ? ` (${count(ledger.excused)} documented exceptions: lost responses, rotations the shared store never took)`
        : '';
    lines.push(`| ${invariant} | ${count(tally.checks)}${excused} | ${count(tally.violations)} |`);
  }
  const examples = ledger.describeViolations();
  if (examples.length > 0) {
    lines.push('');
    lines.push('Violations (first of each):');
    for (const example of examples) lines.push(`- ${example}`);
  }
  return lines.join('\n');
}
