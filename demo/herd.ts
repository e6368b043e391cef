/**
 * `npm start`: the incident, replayed against a real rotating OAuth server on 127.0.0.1.
 *
 * A dashboard fires 50 requests at once just after the access token expired. First with
 * the naive client (each 401 refreshes: the server sees the rotated refresh token reused
 * and revokes the session), then with authchart (one refresh, every request replayed).
 */
import { createAuthFetch } from '../adapters/fetch/index.js';
import type { LogEntry } from '../adapters/index.js';
import { oauthRefresher } from '../adapters/oauth/index.js';
import { createTokenServer, startTestServers } from '../adapters/testing/node.js';
import { createNaiveClient } from './naive-client.js';

const DASHBOARD_REQUESTS = 50;
const TOKEN_LIFETIME_S = 2;
const CLIENT_ID = 'demo-dashboard';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pad = (value: unknown, width: number) => String(value).padEnd(width);

interface Row {
  client: string;
  tokenCalls: number;
  ok: number;
  failed: number;
  alive: boolean;
  note: string;
}

async function login(tokenEndpoint: string) {
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: 'ada', password: 'demo', client_id: CLIENT_ID }),
  });
  const body = (await response.json()) as { access_token: string; refresh_token: string; expires_in: number };
  return { accessToken: body.access_token, refreshToken: body.refresh_token, expiresIn: body.expires_in };
}

async function main() {
  const server = createTokenServer({ accessTokenTtlSeconds: TOKEN_LIFETIME_S });
  const servers = await startTestServers(server);
  const dashboard = Array.from({ length: DASHBOARD_REQUESTS }, (_, i) => `${servers.api}/widgets/${i}`);
  const rows: Row[] = [];
  console.log('authchart demo: the token-refresh thundering herd');
  console.log(`  token server   ${servers.tokenEndpoint}  (rotates refresh tokens; reuse revokes the session; access tokens live ${TOKEN_LIFETIME_S} s)`);
  console.log(`  resource       ${servers.api}/…`);
  try {
    // Act 1: the naive client.
    console.log(`\n1. Naive client: each 401 refreshes on its own`);
    const naiveTokens = await login(servers.tokenEndpoint);
    server.resetStats();
    await sleep(TOKEN_LIFETIME_S * 1000 + 100);
    console.log(`   the access token has expired; the dashboard fires ${DASHBOARD_REQUESTS} requests at once`);
    const naive = createNaiveClient({ tokenEndpoint: servers.tokenEndpoint, clientId: CLIENT_ID, tokens: naiveTokens });
    const naiveResults = await Promise.allSettled(
      dashboard.map((url) => naive.request(url).then((r) => (r.ok ? r : Promise.reject(new Error(`HTTP ${r.status}`))))),
    );
    const outcomes: Record<string, number> = {};
    for (const c of server.calls) outcomes[c.outcome] = (outcomes[c.outcome] ?? 0) + 1;
    console.log(
      `   token server saw ${server.stats.refreshCalls} refresh calls: ${Object.entries(outcomes)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ')}`,
    );
    rows.push({
      client: 'naive',
      tokenCalls: server.stats.refreshCalls,
      ok: naiveResults.filter((r) => r.status === 'fulfilled').length,
      failed: naiveResults.filter((r) => r.status === 'rejected').length,
      alive: naive.refreshToken !== undefined && server.isAlive(naive.refreshToken),
      note: naive.loggedOut ? 'user logged out' : 'session revoked by reuse detection',
    });

    // Act 2: authchart. The app restored tokens without their expiry (as in the incidents),
    // so nothing refreshes ahead of time: the herd of 401s is real.
    console.log(`\n2. authchart: the same dashboard through createAuthFetch`);
    const fresh = await login(servers.tokenEndpoint);
    let started = Date.now();
    const timeline: string[] = [];
    const logger = (entry: LogEntry) => {
      const at = `+${String(Date.now() - started).padStart(4)} ms`;
      if (entry.type === 'state')
        timeline.push(`   ${at}  ${pad(entry.from, 10)} → ${pad(entry.to, 10)} ${entry.to === 'debouncing' ? '(first 401: the debounce window opens)' : ''}`);
      if (entry.type === 'refresh.done') timeline.push(`   ${at}  token call answered (${entry.durationMs} ms), refresh token rotated and stored`);
      if (entry.type === 'queue.released') timeline.push(`   ${at}  ${entry.count} waiting requests released with the new token`);
    };
    const authFetch = createAuthFetch({
      refresh: oauthRefresher({ tokenEndpoint: servers.tokenEndpoint, clientId: CLIENT_ID }),
      allowedOrigins: [servers.apiOrigin],
      tokens: { accessToken: fresh.accessToken, refreshToken: fresh.refreshToken },
      logger,
    });
    await sleep(TOKEN_LIFETIME_S * 1000 + 100);
    server.resetStats();
    console.log(`   the access token has expired; the dashboard fires ${DASHBOARD_REQUESTS} requests at once`);
    started = Date.now();
    const results = await Promise.allSettled(dashboard.map((url) => authFetch(url).then((r) => (r.ok ? r : Promise.reject(new Error(`HTTP ${r.status}`))))));
    for (const line of timeline) console.log(line);
    const status = authFetch.getStatus();
    const refreshTokenAlive = server.calls.filter((c) => c.outcome === 'rotated').length === 1;
    rows.push({
      client: 'authchart',
      tokenCalls: server.stats.refreshCalls,
      ok: results.filter((r) => r.status === 'fulfilled').length,
      failed: results.filter((r) => r.status === 'rejected').length,
      alive: status.status === 'authenticated' && refreshTokenAlive,
      note: `state ${status.state}, ${server.stats.resourceUnauthorized} 401s absorbed`,
    });

    // The session is alive: one more refresh with what authchart stored works.
    await authFetch.refresh();
    const stillAlive = server.calls.at(-1)?.outcome === 'rotated';
    await authFetch.dispose();

    console.log('\nSummary');
    console.log(`   ${pad('client', 11)}${pad('token calls', 13)}${pad('succeeded', 11)}${pad('failed', 8)}${pad('session alive', 15)}note`);
    for (const row of rows) {
      console.log(
        `   ${pad(row.client, 11)}${pad(row.tokenCalls, 13)}${pad(`${row.ok}/${DASHBOARD_REQUESTS}`, 11)}${pad(row.failed, 8)}${pad(row.alive ? 'yes' : 'no', 15)}${row.note}`,
      );
    }
    console.log(`\n   afterwards, one more refresh with authchart's stored token: ${stillAlive ? 'rotated (the session lives)' : 'FAILED'}`);
    const good = rows[1]!;
    if (good.tokenCalls !== 1 || good.ok !== DASHBOARD_REQUESTS || !stillAlive) {
      process.exitCode = 1;
      console.error('\nUnexpected result: authchart should make one token call and succeed every request.');
    }
  } finally {
    await servers.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
