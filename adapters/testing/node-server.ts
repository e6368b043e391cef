import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resourceReply, type TokenServer, type TokenServerReply } from './token-server.js';

export interface TestServers {
  /** The token endpoint URL, e.g. http://127.0.0.1:40123/oauth/token */
  tokenEndpoint: string;
  /** Base URL of the protected resource, e.g. http://127.0.0.1:40124/api */
  api: string;
  /** Origin of the resource server (for `allowedOrigins`). */
  apiOrigin: string;
  /** Stop both servers (open connections are closed). */
  close(): Promise<void>;
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
  'access-control-expose-headers': 'www-authenticate, retry-after',
};

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(req: IncomingMessage, res: ServerResponse, reply: TokenServerReply): void {
  if (reply.kind === 'reset') {
    req.socket.destroy();
    return;
  }
  const type = reply.kind === 'html' ? 'text/html' : 'application/json';
  res.writeHead(reply.status, { ...CORS, 'content-type': type, ...(reply.kind === 'json' ? reply.headers : {}) });
  res.end(reply.kind === 'html' ? reply.body : JSON.stringify(reply.body));
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS).end();
      return;
    }
    handler(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, CORS);
      res.end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(server));
  });
}

function urlOf(server: Server, host: string): string {
  return `http://${host}:${(server.address() as AddressInfo).port}`;
}

/**
 * Serve a {@link TokenServer} over real HTTP on loopback: a token endpoint (`/oauth/token`)
 * and a protected resource (`/api/*`) on two ports, as separate origins.
 * @example
 * const servers = await startTestServers(createTokenServer({ accessTokenTtlSeconds: 2 }))
 * // … servers.tokenEndpoint, servers.api …
 * await servers.close()
 */
export async function startTestServers(tokens: TokenServer, options: { host?: string } = {}): Promise<TestServers> {
  const host = options.host ?? '127.0.0.1';
  const auth = await listen(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'POST' || path !== '/oauth/token') {
      send(req, res, { kind: 'json', status: 404, body: { error: 'not_found' } });
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    const reply = await tokens.token({ form, authorization: req.headers.authorization ?? null }, (ms) => new Promise((r) => setTimeout(r, ms)));
    send(req, res, reply);
  }, host);
  const api = await listen(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readBody(req);
    if (!path.startsWith('/api/')) {
      send(req, res, { kind: 'json', status: 404, body: { error: 'not_found' } });
      return;
    }
    send(req, res, resourceReply(tokens.authenticate(req.headers.authorization ?? null), { method: req.method ?? 'GET', path, body }));
  }, host);
  const close = (server: Server) =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return {
    tokenEndpoint: `${urlOf(auth, host)}/oauth/token`,
    api: `${urlOf(api, host)}/api`,
    apiOrigin: urlOf(api, host),
    close: async () => {
      await Promise.all([close(auth), close(api)]);
    },
  };
}
