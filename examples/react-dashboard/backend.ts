/**
 * The example's local back end, as a Vite plugin: the rotating token server and the
 * protected API from `authchart/testing/node` on 127.0.0.1, plus control endpoints under
 * `/demo/*` for the dashboard's buttons. Demo and test use only: it exists in this
 * example's Vite config and nowhere else.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Connect, Plugin } from 'vite';
import { createTokenServer, startTestServers, type TestServers } from '../../adapters/testing/node.js';
import type { TokenServer } from '../../adapters/testing/token-server.js';
import type { DemoConfig } from './demo-config.js';

export type { DemoConfig } from './demo-config.js';

export interface DemoBackendOptions {
  /**
   * Access-token lifetime on the demo token server. authchart refreshes proactively 30 s
   * before the expiry (`leewayMs`), so the dashboard refreshes on its own every
   * `accessTokenTtlSeconds - 30` seconds too.
   * @default 120
   */
  accessTokenTtlSeconds?: number;
  /**
   * How often each widget polls its endpoint, in milliseconds.
   * @default 5000
   */
  pollMs?: number;
  /** Called once the servers listen (tests read the token server's stats through it). */
  onReady?: (backend: DemoBackend) => void;
}

export interface DemoBackend {
  /** The token server's logic: `stats`, `calls`. */
  tokens: TokenServer;
  servers: TestServers;
  config: DemoConfig;
  /** Whether every token call currently answers 503. */
  readonly broken: boolean;
  /** Make every access token issued so far expired (the client does not know). */
  expire(): void;
  /** From now on every token call answers 503 (transient), until `repair()`. */
  breakTokenServer(): void;
  repair(): void;
  /** Revoke every session the token server issued (refresh tokens and their access tokens). */
  revoke(): void;
  close(): Promise<void>;
}

/** Start the token server and the API on loopback. */
export async function startDemoBackend(options: DemoBackendOptions = {}): Promise<DemoBackend> {
  const inner = createTokenServer({ accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 120 });
  let broken = false;
  const refreshTokens = new Set<string>();
  // The token server, with an on/off outage and a record of the refresh tokens it gave out
  // (so "revoke" can end every session).
  const tokens: TokenServer = {
    login: () => {
      const login = inner.login();
      refreshTokens.add(login.refresh_token);
      return login;
    },
    async token(request, sleep) {
      if (broken) inner.fault({ type: 'unavailable' });
      const reply = await inner.token(request, sleep);
      if (reply.kind === 'json' && typeof reply.body.refresh_token === 'string') refreshTokens.add(reply.body.refresh_token);
      return reply;
    },
    authenticate: (authorization) => inner.authenticate(authorization),
    fault: (...faults) => inner.fault(...faults),
    expireAccessTokens: () => inner.expireAccessTokens(),
    revoke: (refreshToken) => inner.revoke(refreshToken),
    isAlive: (refreshToken) => inner.isAlive(refreshToken),
    get calls() {
      return inner.calls;
    },
    get stats() {
      return inner.stats;
    },
    resetStats: () => inner.resetStats(),
  };
  const servers = await startTestServers(tokens);
  let closed: Promise<void> | null = null;
  return {
    tokens,
    servers,
    config: {
      tokenEndpoint: servers.tokenEndpoint,
      api: servers.api,
      apiOrigin: servers.apiOrigin,
      clientId: 'react-dashboard',
      pollMs: options.pollMs ?? 5_000,
    },
    get broken() {
      return broken;
    },
    expire: () => tokens.expireAccessTokens(),
    breakTokenServer: () => {
      broken = true;
    },
    repair: () => {
      broken = false;
    },
    revoke: () => {
      for (const refreshToken of refreshTokens) tokens.revoke(refreshToken);
    },
    close: () => (closed ??= servers.close()),
  };
}

function reply(res: ServerResponse, status: number, body?: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

/** `/demo/*`: the page's configuration, the token server's counters, and the buttons. */
function handle(backend: DemoBackend, req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://demo').pathname;
  if (req.method === 'GET' && path === '/config') {
    reply(res, 200, backend.config);
    return;
  }
  if (req.method === 'GET' && path === '/stats') {
    const { refreshCalls, tokenCalls, resourceCalls, resourceUnauthorized, reuseDetected } = backend.tokens.stats;
    reply(res, 200, { refreshCalls, tokenCalls, resourceCalls, resourceUnauthorized, reuseDetected, broken: backend.broken });
    return;
  }
  const actions: Record<string, () => void> = {
    '/expire': backend.expire,
    '/break': backend.breakTokenServer,
    '/repair': backend.repair,
    '/revoke': backend.revoke,
  };
  const action = actions[path];
  if (!action) reply(res, 404, { error: 'not_found' });
  else if (req.method !== 'POST') reply(res, 405, { error: 'method_not_allowed' });
  else {
    action();
    reply(res, 204);
  }
}

/**
 * Serve the demo back end from Vite's dev server (`npm run example`) and its preview
 * server (the browser test). The servers start with Vite's server and stop with it.
 */
export function demoBackend(options: DemoBackendOptions = {}): Plugin {
  let started: Promise<DemoBackend> | null = null;
  const attach = (middlewares: Connect.Server, httpServer: Server | null | undefined) => {
    started ??= startDemoBackend(options).then((ready) => {
      options.onReady?.(ready);
      return ready;
    });
    const backend = started;
    middlewares.use('/demo', (req, res, next) => {
      backend.then((ready) => handle(ready, req, res), next);
    });
    httpServer?.once('close', () => void backend.then((ready) => ready.close()));
  };
  return {
    name: 'authchart-demo-backend',
    configureServer(server) {
      attach(server.middlewares, server.httpServer as Server | null);
    },
    configurePreviewServer(server) {
      attach(server.middlewares, server.httpServer as Server);
    },
  };
}
