/**
 * An app server whose refresh token is an httpOnly cookie, on 127.0.0.1, for the browser
 * suite: one origin serves the page, `POST /auth/login`, `POST /auth/refresh` and a
 * bearer-protected `/api/*`. The refresh token lives only in the `rt` cookie (HttpOnly,
 * SameSite=Strict, Path=/auth) and is rotated on every refresh by the strict rotating token
 * server (the referee): presenting a rotated cookie again revokes the whole family.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TokenServer } from '../../adapters/testing/index.js';

export interface CookieServer {
  origin: string;
  /** Refresh calls that reached the endpoint with a cookie, and what became of them. */
  stats: { refreshCalls: number; withoutCookie: number };
  close(): Promise<void>;
}

const cookieOf = (req: IncomingMessage) => /(?:^|;\s*)rt=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
const setCookie = (value: string) => `rt=${value}; HttpOnly; SameSite=Strict; Path=/auth; Max-Age=86400`;

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

/**
 * Start the server. `page` is the HTML of `/` (and any other page path), `script` the
 * JavaScript it loads from `/page.js`.
 */
export async function startCookieServer(tokens: TokenServer, site: { page: string; script: () => string }): Promise<CookieServer> {
  const stats = { refreshCalls: 0, withoutCookie: 0 };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'POST' && path === '/auth/login') {
      const login = tokens.login();
      json(
        res,
        200,
        { access_token: login.access_token, token_type: 'Bearer', expires_in: login.expires_in },
        { 'set-cookie': setCookie(login.refresh_token) },
      );
      return;
    }
    if (req.method === 'POST' && path === '/auth/refresh') {
      const presented = cookieOf(req);
      if (!presented) {
        stats.withoutCookie++;
        json(res, 401, { error: 'invalid_grant', error_description: 'No refresh cookie.' });
        return;
      }
      stats.refreshCalls++;
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: presented });
      void tokens
        .token({ form, authorization: null }, (ms) => new Promise((resolve) => setTimeout(resolve, ms)))
        .then((reply) => {
          if (reply.kind !== 'json') {
            req.socket.destroy();
            return;
          }
          const { refresh_token: rotated, ...body } = reply.body as { refresh_token?: string };
          // The refresh token leaves only as a cookie; a refused one clears it.
          const cookie = reply.status === 200 && rotated ? setCookie(rotated) : 'rt=; HttpOnly; SameSite=Strict; Path=/auth; Max-Age=0';
          json(res, reply.status, body, { 'set-cookie': cookie });
        });
      return;
    }
    if (path.startsWith('/api/')) {
      const check = tokens.authenticate(req.headers.authorization ?? null);
      if (check.ok) json(res, 200, { ok: true, path });
      else json(res, 401, { error: check.error }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      return;
    }
    if (path === '/page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(site.script());
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end(site.page);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
