/**
 * A protected resource on 127.0.0.1 that checks every access token with the OpenID
 * provider (RFC 7662 introspection), so a request succeeds only with a token the provider
 * holds active right now: no shortcut, no cache.
 *
 * With `dpop`, it is a DPoP resource server (RFC 9449 §7): it takes only
 * `Authorization: DPoP <token>` with a `DPoP` proof, checks the proof (signature with the
 * header's own JWK, `htm`, `htu`, `iat`, `jti` never seen before, `ath` of this token) and
 * that the token is bound to that very key (the provider's `cnf.jkt` equals the proof key's
 * thumbprint).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkProof } from './dpop-proof.js';
import type { OidcFixture } from './oidc-provider.js';

export interface ResourceServerStats {
  requests: number;
  ok: number;
  unauthorized: number;
  /** Why requests were refused (`jti replayed`, `token bound to another key`, …). */
  refusals: string[];
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
export async function startResourceServer(idp: OidcFixture, options: { dpop?: boolean } = {}): Promise<ResourceServer> {
  const stats: ResourceServerStats = { requests: 0, ok: 0, unauthorized: 0, refusals: [] };
  const seen = new Set<string>();
  let origin = '';
  const scheme = options.dpop ? 'DPoP' : 'Bearer';
  const refuse = (res: ServerResponse, error: 'invalid_token' | 'invalid_dpop_proof', reason: string) => {
    stats.unauthorized++;
    stats.refusals.push(reason);
    reply(res, 401, { error }, { 'www-authenticate': `${scheme} error="${error}"` });
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    const match = new RegExp(`^${scheme} ([^\\s]+)$`).exec(req.headers.authorization ?? '');
    if (!match) return refuse(res, 'invalid_token', `no ${scheme} token`);
    const token = match[1]!;
    let jkt: string | undefined;
    if (options.dpop) {
      const path = new URL(req.url ?? '/', origin).pathname;
      const proof = await checkProof(req.headers.dpop as string | undefined, { htm: req.method ?? 'GET', htu: `${origin}${path}`, accessToken: token, seen });
      if (!proof.ok) return refuse(res, 'invalid_dpop_proof', proof.reason);
      jkt = proof.jkt;
    }
    const introspection = await idp.introspect(token);
    if (!introspection.active) return refuse(res, 'invalid_token', 'token not active');
    if (options.dpop && introspection.cnf?.jkt !== jkt) return refuse(res, 'invalid_token', 'token bound to another key');
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
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
