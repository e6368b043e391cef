/**
 * `npm run inspect`: the herd → refresh → failures → logout scenario, live in the Stately
 * inspector.
 *
 * A small bridge on 127.0.0.1 receives the inspection events over WebSocket (from
 * `createWebSocketInspector` of @statelyai/inspect) and serves a page that hands them to the
 * inspector UI (which loads from stately.ai: viewing it needs internet, running this does
 * not). The token server runs on loopback too. Ctrl+C stops everything.
 *
 *   npm run inspect                    # keep the bridge open, print the URL
 *   npm run inspect -- --once          # run the scenario, check the relayed events, exit
 *   AUTHCHART_INSPECT_PORT=8080 npm run inspect
 *
 * AUTHCHART_INSPECT_BACKOFF_MS shortens the backoff (the tests run the demo with it).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWebSocketInspector } from '@statelyai/inspect';
import { WebSocket, WebSocketServer } from 'ws';
import { createAuthFetch, type AuthFetchOptions } from '../adapters/fetch/index.js';
import { oauthRefresher } from '../adapters/oauth/index.js';
import { createTokenServer, issuedSecrets } from '../adapters/testing/index.js';
import { startTestServers } from '../adapters/testing/node.js';

const HOST = '127.0.0.1';
const once = process.argv.includes('--once');
const port = Number(process.env.AUTHCHART_INSPECT_PORT ?? 0);

function bridgePage(wsUrl: string): string {
  return `<!doctype html>
<html><head><title>authchart · Stately inspector</title>
<style>html,body,iframe{margin:0;width:100%;height:100%;border:0}</style></head>
<body><iframe id="inspector" src="https://stately.ai/inspect"></iframe>
<script>
  const iframe = document.getElementById('inspector');
  const buffer = [];
  let connected = false;
  window.addEventListener('message', (e) => {
    if (e.data && e.data.type === '@statelyai.connected') {
      connected = true;
      for (const event of buffer.splice(0)) iframe.contentWindow.postMessage(event, '*');
    }
  });
  new WebSocket(${JSON.stringify(wsUrl)}).onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (connected) iframe.contentWindow.postMessage(event, '*');
    else buffer.push(event);
  };
</script></body></html>`;
}

/** The bridge: relays every message from the app to every page, and replays the history to a page that opens later. */
async function startBridge(): Promise<{ url: string; wsUrl: string; history: string[]; stop(): Promise<void> }> {
  const history: string[] = [];
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(bridgePage(wsUrl));
  });
  const wss = new WebSocketServer({ server: http });
  wss.on('connection', (socket) => {
    for (const message of history) socket.send(message);
    socket.on('message', (data) => {
      const message = data.toString();
      history.push(message);
      for (const client of wss.clients) if (client !== socket && client.readyState === WebSocket.OPEN) client.send(message);
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, HOST, resolve);
  });
  const { port: actual } = http.address() as AddressInfo;
  const wsUrl = `ws://${HOST}:${actual}`;
  return {
    url: `http://${HOST}:${actual}`,
    wsUrl,
    history,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => http.close(() => resolve()));
      }),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function scenario(inspect: AuthFetchOptions['inspect']): Promise<string[]> {
  const server = createTokenServer({ accessTokenTtlSeconds: 60 });
  const http = await startTestServers(server);
  const log: string[] = [];
  const tokens = server.login();
  const authFetch = createAuthFetch({
    refresh: oauthRefresher({ tokenEndpoint: http.tokenEndpoint, clientId: 'authchart-demo' }),
    allowedOrigins: [http.apiOrigin],
    tokens: { accessToken: tokens.access_token, refreshToken: tokens.refresh_token, expiresAt: Date.now() + tokens.expires_in * 1000 },
    inspect,
    backoffBaseMs: Number(process.env.AUTHCHART_INSPECT_BACKOFF_MS ?? 1000),
  });
  authFetch.on('refreshed', (e) => log.push(`refreshed (token version ${e.tokenVersion}, ${e.trigger})`));
  authFetch.on('refreshFailed', (e) => log.push(`refresh failed: ${e.failure.kind} ${e.failure.code}${e.willRetry ? ', retrying' : ''}`));
  authFetch.on('loggedOut', (e) => log.push(`logged out (${e.reason})`));
  try {
    server.expireAccessTokens();
    const herd = await Promise.all(Array.from({ length: 12 }, (_, i) => authFetch(`${http.api}/dashboard/${i}`)));
    log.push(`herd: ${herd.length} requests, ${server.stats.refreshCalls} token call, statuses ${[...new Set(herd.map((r) => r.status))].join(',')}`);
    server.expireAccessTokens();
    server.fault({ type: 'unavailable' }, { type: 'invalidGrant' }, { type: 'invalidGrant' }, { type: 'invalidGrant' });
    const doomed = await authFetch(`${http.api}/report`).then(
      (r) => `HTTP ${r.status}`,
      (error: { code?: string }) => error.code ?? String(error),
    );
    log.push(`a request during the outage: ${doomed}`);
    await sleep(100);
  } finally {
    await authFetch.dispose();
    await http.close();
  }
  return log;
}

const bridge = await startBridge();
// What the inspector page would receive: a client of the bridge, like the browser page.
const received: string[] = [];
const page = new WebSocket(bridge.wsUrl);
page.on('message', (data) => received.push(data.toString()));
await new Promise((resolve) => page.once('open', resolve));

const inspector = createWebSocketInspector({ url: bridge.wsUrl });
const log = await scenario(inspector.inspect);
await sleep(300);
inspector.stop();

console.log(log.map((line) => `  ${line}`).join('\n'));
const leaks = issuedSecrets().filter((secret) => received.some((message) => message.includes(secret)));
console.log(`\nRelayed ${received.length} inspection events; ${leaks.length} contain a token.`);
console.log(`Stately inspector: open ${bridge.url} in a browser (the inspector UI loads from stately.ai).`);

const shutdown = async () => {
  page.terminate();
  await bridge.stop();
  console.log('Inspector bridge stopped.');
};

if (once || leaks.length > 0) {
  await shutdown();
  process.exitCode = leaks.length > 0 || received.length === 0 ? 1 : 0;
} else {
  console.log('Press Ctrl+C to stop.');
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void shutdown().then(() => process.exit(0)));
  }
}
