/**
 * Real servers for the server-integration suites, all on 127.0.0.1: an API that checks
 * bearer tokens against the rotating token server (and echoes what it saw), and the same
 * small app written with Express 5 and with Fastify 5 (sign-in, a route that calls the
 * API with `authchart.fetch`, and the backend-for-frontend proxy).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import type { TokenSet } from '../../../adapters/core/ports.js';
import { expressAuth, fastifyAuth, type BffOptions, type ServerAuthOptions } from '../../../adapters/server/index.js';
import type { TokenServer } from '../../../adapters/testing/token-server.js';

export type Framework = 'express' | 'fastify';

export interface Upstream {
  /** Base URL of the API, e.g. http://127.0.0.1:40000/api */
  url: string;
  /** Requests the API received, with what it saw (never a token). */
  seen: { method: string; path: string; cookie: boolean; authorized: boolean }[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const listen = (server: Server) =>
  new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));

const closeServer = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/**
 * The API behind the apps: 401 without a currently valid access token of the token server;
 * otherwise 200 with an echo. It also sets a cookie of its own, which a proxy must drop.
 */
export async function startUpstream(tokens: TokenServer): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const check = tokens.authenticate(req.headers.authorization ?? null);
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({ method: req.method ?? 'GET', path: url.pathname, cookie: req.headers.cookie !== undefined, authorized: check.ok });
    if (!check.ok) {
      res
        .writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' })
        .end(JSON.stringify({ error: check.error }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'upstream=1; Path=/', 'x-upstream-secret': 'internal' });
    res.end(
      JSON.stringify({
        ok: true,
        method: req.method,
        path: url.pathname,
        query: url.search,
        body: body || undefined,
        contentType: req.headers['content-type'] ?? null,
      }),
    );
  });
  const origin = await listen(server);
  return { url: `${origin}/api`, seen, close: () => closeServer(server) };
}

/** A password grant at the token endpoint, as an app's sign-in would make after its own login form. */
export async function passwordGrant(tokenEndpoint: string): Promise<TokenSet> {
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: 'ada', password: 'pw', client_id: 'authchart-tests' }),
  });
  if (!response.ok) throw new Error(`password grant failed: ${response.status}`);
  const body = (await response.json()) as { access_token: string; refresh_token: string; expires_in: number };
  return { accessToken: body.access_token, refreshToken: body.refresh_token, expiresAt: Date.now() + body.expires_in * 1000 };
}

export interface App {
  url: string;
  close(): Promise<void>;
}

export interface AppOptions extends ServerAuthOptions {
  tokenEndpoint: string;
  upstream: string;
  bff?: Omit<BffOptions, 'upstream'>;
  /** Called with the tokens of a sign-in before they are stored (tests make them expire). */
  signIn?: (tokens: TokenSet) => TokenSet;
}

/** The app with Express 5. */
export async function startExpressApp(options: AppOptions): Promise<App> {
  const auth = expressAuth({ ...options, allowedOrigins: [new URL(options.upstream).origin] });
  const app = express();
  app.use('/bff', auth.proxy({ upstream: options.upstream, ...options.bff }));
  app.post('/login', async (_req, res) => {
    const tokens = await passwordGrant(options.tokenEndpoint);
    await auth.login(res, options.signIn ? options.signIn(tokens) : tokens);
    res.status(204).end();
  });
  app.post('/logout', auth.csrf(), async (req, res) => {
    await auth.logout(req, res);
    res.status(204).end();
  });
  app.get('/api/me', auth.requireToken, async (req, res) => {
    // Typed: Express' Request carries `authchart` (authchart/server augments it).
    const upstream = await req.authchart!.fetch(`${options.upstream}/me`);
    res.status(upstream.status).json({ via: 'express', upstream: await upstream.json() });
  });
  const server = createServer(app);
  const url = await listen(server);
  return { url, close: () => closeServer(server) };
}

/** The app with Fastify 5. */
export async function startFastifyApp(options: AppOptions): Promise<App> {
  const auth = fastifyAuth({ ...options, allowedOrigins: [new URL(options.upstream).origin] });
  const app: FastifyInstance = Fastify();
  await app.register(auth.proxy({ upstream: options.upstream, ...options.bff }), { prefix: '/bff' });
  app.post('/login', async (_request, reply) => {
    const tokens = await passwordGrant(options.tokenEndpoint);
    await auth.login(reply, options.signIn ? options.signIn(tokens) : tokens);
    return reply.code(204).send();
  });
  app.post('/logout', { preHandler: auth.csrf() }, async (request, reply) => {
    await auth.logout(request, reply);
    return reply.code(204).send();
  });
  await app.register(
    async (api) => {
      await api.register(auth.plugin);
      api.get('/me', async (request, reply) => {
        const upstream = await auth.of(request).fetch(`${options.upstream}/me`);
        return reply.code(upstream.status).send({ via: 'fastify', upstream: await upstream.json() });
      });
    },
    { prefix: '/api' },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

export const startApp = (framework: Framework, options: AppOptions) => (framework === 'express' ? startExpressApp(options) : startFastifyApp(options));

/** A browser-less client with a cookie jar of one cookie (the session's). */
export class Client {
  cookie: string | null = null;
  setCookies: string[] = [];
  constructor(private readonly cookieName = 'authchart.sid') {}

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookie) headers.set('cookie', `theme=dark; ${this.cookie}`);
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      this.setCookies.push(line);
      const pair = line.split(';')[0]!;
      if (pair.startsWith(`${this.cookieName}=`)) this.cookie = /max-age=0/i.test(line) ? null : pair;
    }
    return response;
  }
}
