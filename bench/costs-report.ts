/**
 * The "Cost per unit" section of bench/RESULTS.md: authchart and the peers measured in the
 * same run, side by side, each against the target it is held to.
 */
import type { IdleRow, RoundTripRow } from './costs.js';
import type { ReleaseRow } from './micro.js';
import { sectionEnd, sectionStart } from './sections.js';
import type { SizeRow } from './size.js';

export interface CostsInput {
  date: string;
  release: ReleaseRow[];
  idle: IdleRow[];
  roundTrips: RoundTripRow[];
  sizes: SizeRow[] | null;
  loadavg: number[];
}

const kb = (bytes: number | null | undefined) => (bytes === null || bytes === undefined ? '—' : `${(bytes / 1024).toFixed(2)} KB`);
const ms = (value: number | undefined) => (value === undefined ? '—' : `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ms`);
const ratio = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || b === 0 ? '—' : `×${(a / b).toFixed(2)}`);
const met = (ok: boolean | null) => (ok === null ? '—' : ok ? 'yes' : '**no**');

export function renderCosts(input: CostsInput): string {
  const rel = (name: string) => input.release.find((r) => r.name === name);
  const idle = (name: string) => input.idle.find((r) => r.name === name)?.bytesPerUnit ?? null;
  const authFetch = rel('authchart (fetch)');
  const shared = rel('shared refreshPromise');
  const size = (prefix: string) => input.sizes?.find((r) => r.name.startsWith(prefix)) ?? null;
  const fetchSize = size('authchart/fetch');
  const peerSize = size('axios-auth-refresh');
  const session = idle('authchart createSession');
  const sessionFetch = idle('authchart createAuthFetch');
  const used = idle('authchart createSession, used once');
  const actor = idle('the statechart actor alone');
  const sharedIdle = idle('shared refreshPromise');
  const naiveIdle = idle('naive (each 401 refreshes)');
  const out: string[] = [
    sectionStart('costs'),
    '## Cost per unit',
    '',
    `\`npm run bench -- --costs\` on ${input.date} (load average ${input.loadavg.map((l) => l.toFixed(2)).join(' ')}); the peers measured in the same process and run. Heap: after two forced GCs (\`--expose-gc\`), units kept alive at once, minus the heap before, divided by their number (median of the runs). Release: stub transports, the refresh answers when told to, refresh answered → last waiting request resolved. Round trips: every command (Redis) or statement (PostgreSQL) the session manager's client sent, counted by a wrapped client, on a real \`redis-server\` / PostgreSQL on 127.0.0.1.`,
    '',
    '| unit | authchart | peers, same run | authchart vs best peer | target (issue 16) | met |',
    '|---|---|---|---|---|---|',
    `| heap per idle session (\`createSession\`, memory store) | ${kb(session)} (with the fetch front end: ${kb(sessionFetch)}) | shared refreshPromise ${kb(sharedIdle)}, naive ${kb(naiveIdle)} | ${ratio(session, sharedIdle)} | ≤ 8 KB | ${met(session === null ? null : session <= 8 * 1024)} |`,
    `| heap per waiting request (fetch) | ${authFetch?.bytesPerRequest == null ? '—' : `${authFetch.bytesPerRequest.toFixed(0)} B`} | shared refreshPromise ${shared?.bytesPerRequest == null ? '—' : `${shared.bytesPerRequest.toFixed(0)} B`} | ${ratio(authFetch?.bytesPerRequest, shared?.bytesPerRequest)} | ≤ 0.6 KB | ${met(authFetch?.bytesPerRequest == null ? null : authFetch.bytesPerRequest <= 0.6 * 1024)} |`,
    `| releasing ${(authFetch?.count ?? 0).toLocaleString('en-US')} waiting requests (fetch) | ${ms(authFetch?.releaseMs)} | shared refreshPromise ${ms(shared?.releaseMs)} | ${ratio(authFetch?.releaseMs, shared?.releaseMs)} | ≤ ×1.5 the shared promise | ${met(authFetch && shared ? authFetch.releaseMs <= shared.releaseMs * 1.5 : null)} |`,
  ];
  for (const row of input.roundTrips) {
    out.push(
      `| ${row.store} round trips per request, valid token | ${(row.commands / row.requests).toFixed(3)} (${row.commands} for ${row.requests.toLocaleString('en-US')} requests; the session's first request in a process: ${row.firstRequestCommands}) | the peers keep tokens in the process only | — | ≈ 0 | ${met(row.commands / row.requests < 0.01)} |`,
    );
  }
  out.push(
    `| \`authchart/fetch\` own code, min+gzip | ${kb(fetchSize?.gzip)} | axios-auth-refresh ${kb(peerSize?.gzip)} (the hand-written peers: a few dozen lines) | ${ratio(fetchSize?.gzip, peerSize?.gzip)} | ≤ 6 KB | ${met(fetchSize ? fetchSize.gzip <= 6 * 1024 : null)} |`,
  );
  out.push('', '### Heap per idle session, by part', '', '| what | one unit is | units | heap per unit |', '|---|---|---|---|');
  for (const row of input.idle) out.push(`| ${row.name} | ${row.what} | ${row.count.toLocaleString('en-US')} | ${kb(row.bytesPerUnit)} |`);
  if (actor !== null && session !== null && used !== null)
    out.push(
      '',
      `An idle session has no statechart actor: it makes one when first used (a request, a 401, a refresh, a sign-in or sign-out) or when \`session.actor\` is first read. The actor alone is ${kb(actor)}; a session used once, ${kb(used)} (${kb(used - session)} more than an idle one).`,
    );
  out.push(
    '',
    '### Waiting requests',
    '',
    '| strategy | how the requests came to wait | requests | release time | vs shared refreshPromise | heap per waiting request | failed |',
    '|---|---|---|---|---|---|---|',
  );
  for (const row of input.release) {
    out.push(
      `| ${row.name} | ${row.how} | ${row.count.toLocaleString('en-US')} | ${ms(row.releaseMs)} | ${ratio(row.releaseMs, shared?.releaseMs)} | ${row.bytesPerRequest === null ? '—' : `${row.bytesPerRequest.toFixed(0)} B`} | ${row.failed} |`,
    );
  }
  out.push(sectionEnd('costs'));
  return out.join('\n');
}
