/**
 * A protected resource on 127.0.0.1 that checks every access token with the OpenID
 * provider (RFC 7662 introspection), so a request succeeds only with a token the provider
 * holds active right now: no shortcut, no cache.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OidcFixture } from './oidc-provider.js';

export interface ResourceServerStats {
  requests: number;
  ok: number;
  unauthorized: number;
}

export interface ResourceServer {
  /** Base URL of the API, e.g. `http://127.0.0.1:40125/api`. */
  api: string;
  origin: string;
  stats: ResourceServerStats;
  close(): Promise<void>;
}

function reply(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * Start the resource server in front of `idp`.
 * @example
 * const api = await startResourceServer(idp)
 * await authFetch(`${api.api}/me`)
 */
export async function startResourceServer(idp: OidcFixture): Promise<ResourceServer> {
  const stats: ResourceServerStats = { requests: 0, ok: 0, unauthorized: 0 };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    const match = /^Bearer ([^\s]+)$/.exec(req.headers.authorization ?? '');
    const introspection = match ? await idp.introspect(match[1]!) : { active: false };
    if (!introspection.active) {
      stats.unauthorized++;
      reply(res, 401, { error: 'invalid_token' }, { 'www-authenticate': `Bearer error="invalid_token"` });
      return;
    }
    stats.ok++;
    reply(res, 200, { ok: true, path: req.url, sub: introspection.sub });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    api: `${origin}/api`,
    origin,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
