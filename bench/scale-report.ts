/** The "Scale" section of bench/RESULTS.md, written by `npm run bench:scale`. */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import type { ScaleResult } from './scale.js';
import { placeSection, sectionEnd, sectionStart } from './sections.js';

export function renderScale(results: ScaleResult[], run: { date: string; command: string }): string {
  const out = [
    sectionStart('scale'),
    '## Scale: many sessions, 4 processes, one shared store',
    '',
    `\`${run.command}\` on ${run.date} (${cpus().length} cores, ${(totalmem() / 1024 ** 3).toFixed(0)} GB, load average at the end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' ',
      )}). 4 server processes (authchart/redis or authchart/postgres session managers), each session held by 2 of them; the rotating token server on 127.0.0.1 with strict reuse detection. Phases: *load* (each process asks for each of its sessions once), *valid token* (again), *wave of expiries* (the sessions' clock jumps 65 minutes: every signed-in token, valid for 1 h, has expired at once, while refreshed ones live 2 h; each process asks for each of its sessions once). 500 requests in flight per process. A request is one \`getValidAccessToken\`.`,
    '',
    '| store | sessions | phase | requests | failed | p50 | p99 | store commands per request | duration |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    for (const p of r.phases) {
      out.push(
        `| ${r.store} | ${r.sessions.toLocaleString('en-US')} | ${p.name} | ${p.requests.toLocaleString('en-US')} | ${p.failed}${
          p.failed
            ? ` (${Object.entries(p.errors)
                .map(([c, n]) => `${c} ×${n}`)
                .join(', ')})`
            : ''
        } | ${p.p50.toFixed(1)} ms | ${p.p99.toFixed(1)} ms | ${p.commandsPerRequest.toFixed(3)} | ${(p.durationMs / 1000).toFixed(1)} s |`,
      );
    }
  }
  out.push(
    '',
    '| store | sessions | token calls per session per expiry | reuse detected | heap per process after the wave (sessions held) | sign-in time |',
    '|---|---|---|---|---|---|',
  );
  for (const r of results) {
    out.push(
      `| ${r.store} | ${r.sessions.toLocaleString('en-US')} | ${r.sessions ? (r.refreshCalls / r.sessions).toFixed(3) : '—'} (${r.refreshCalls.toLocaleString('en-US')} refresh grants) | ${r.reuseDetected} | ${r.heapPerProcessMb.map((h, i) => `${h.toFixed(0)} MB (${r.heldPerProcess[i]?.toLocaleString('en-US')})`).join(', ')} | ${(r.signInMs / 1000).toFixed(1)} s |`,
    );
  }
  for (const r of results) if (r.note) out.push('', `- ${r.store}: ${r.note}.`);
  out.push(sectionEnd('scale'));
  return out.join('\n');
}

export function writeScaleSection(file: string, results: ScaleResult[], run: { date: string; command: string }): void {
  const markdown = readFileSync(file, 'utf8');
  writeFileSync(file, placeSection(markdown, 'scale', renderScale(results, run)));
}
