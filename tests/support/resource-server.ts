/**
 * A protected resource on 127.0.0.1 that checks every access token with the OpenID
 * provider (RFC 7662 introspection), so a request succeeds only with a token the provider
 * holds active right now: no shortcut, no cache.
 *
 * With `dpop`, it is a DPoP resource server (RFC 9449 §7): it takes only
 * `Authorization: DPoP <token>` with a `DPoP` proof, checks the proof (signature with the
 * header's own JWK, `htm`, `htu`, `iat`, `jti` never seen before, `ath` of this token) and
 * that the token is bound to that very key (the provider's `cnf.jkt` equals the proof key's
 * thumbprint). With `requireNonce`, a proof must also carry the server's current nonce
 * (RFC 9449 §9): otherwise the answer is `401` with `WWW-Authenticate: DPoP
 * error="use_dpop_nonce"` and the nonce in `DPoP-Nonce`, which every answer carries.
 *
 * `GET /redirect?to=<path>` answers `307` to `<path>` on the same origin (before any check).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkProof } from './dpop-proof.js';
import type { OidcFixture } from './oidc-provider.js';

/** An accepted DPoP request, as the server checked it. */
export interface AcceptedProof {
  method: string;
  /** The request's path, query included (the proof's `htu` has none). */
  path: string;
  jti: string;
  /** Thumbprint of the proof's key. */
  jkt: string;
  nonce?: string;
}

export interface ResourceServerStats {
  requests: number;
  ok: number;
  unauthorized: number;
  /** Why requests were refused (`jti replayed`, `token bound to another key`, …). */
  refusals: string[];
  /** `use_dpop_nonce` answers given. */
  nonceChallenges: number;
  /** Every request accepted with a proof, in order. */
  accepted: AcceptedProof[];
}

export interface ResourceServer {
  /** Base URL of the API, e.g. `http://127.0.0.1:40125/api`. */
  api: string;
  origin: string;
  stats: ResourceServerStats;
  /** The nonce proofs must carry now (with `requireNonce`). */
  readonly nonce: string;
  /** A new nonce, told to nobody: the next proof carries the old one and is challenged. */
  rotateNonce(): string;
  /**
   * A new nonce announced in the next answers' `DPoP-Nonce` while the current one is still
   * accepted, until a proof carries the new one (RFC 9449 §8.2: a server may hand out the
   * next nonce ahead of time).
   */
  announceNonce(): string;
  /** Challenge every proof with a fresh nonce (a server that keeps asking). */
  challengeAlways: boolean;
  resetStats(): void;
  close(): Promise<void>;
}

export interface ResourceServerOptions {
  dpop?: boolean;
  /** With `dpop`: proofs must carry the server's nonce. */
  requireNonce?: boolean;
  /** Answer CORS (any origin), exposing `DPoP-Nonce` and `WWW-Authenticate`, for pages of another origin. */
  cors?: boolean;
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'dpop-nonce, www-authenticate',
};

const newNonce = () => randomBytes(16).toString('base64url');

/**
 * Start the resource server in front of `idp`.
 * @example
 * const api = await startResourceServer(idp, { dpop: true, requireNonce: true })
 * await authFetch(`${api.api}/me`)
 */
export async function startResourceServer(idp: OidcFixture, options: ResourceServerOptions = {}): Promise<ResourceServer> {
  const fresh = (): ResourceServerStats => ({ requests: 0, ok: 0, unauthorized: 0, refusals: [], nonceChallenges: 0, accepted: [] });
  let stats = fresh();
  const seen = new Set<string>();
  let origin = '';
  let nonce = newNonce();
  let announced: string | undefined;
  const scheme = options.dpop ? 'DPoP' : 'Bearer';
  const base = (): Record<string, string> => ({
    ...(options.cors ? CORS : {}),
    ...(options.dpop && options.requireNonce ? { 'dpop-nonce': announced ?? nonce } : {}),
  });
  const reply = (res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...base(), ...headers });
    res.end(JSON.stringify(body));
  };
  const refuse = (res: ServerResponse, error: 'invalid_token' | 'invalid_dpop_proof', reason: string) => {
    stats.unauthorized++;
    stats.refusals.push(reason);
    reply(res, 401, { error }, { 'www-authenticate': `${scheme} error="${error}"` });
  };
  const challenge = (res: ServerResponse) => {
    stats.nonceChallenges++;
    reply(
      res,
      401,
      { error: 'use_dpop_nonce' },
      { 'www-authenticate': 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"' },
    );
  };

  const server: ResourceServer = {
    api: '',
    origin: '',
    get stats() {
      return stats;
    },
    get nonce() {
      return nonce;
    },
    rotateNonce() {
      nonce = newNonce();
      announced = undefined;
      return nonce;
    },
    announceNonce() {
      announced = newNonce();
      return announced;
    },
    challengeAlways: false,
    resetStats() {
      stats = fresh();
    },
    close: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'OPTIONS' && options.cors) {
      res
        .writeHead(204, {
          ...CORS,
          'access-control-allow-headers': 'authorization, dpop, content-type',
          'access-control-allow-methods': 'GET, POST, PUT, DELETE',
        })
        .end();
      return;
    }
    stats.requests++;
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/redirect') {
      res.writeHead(307, { ...base(), location: url.searchParams.get('to') ?? '/' }).end();
      return;
    }
    const match = new RegExp(`^${scheme} ([^\\s]+)$`).exec(req.headers.authorization ?? '');
    if (!match) return refuse(res, 'invalid_token', `no ${scheme} token`);
    const token = match[1]!;
    let proof: AcceptedProof | undefined;
    if (options.dpop) {
      const checked = await checkProof(req.headers.dpop as string | undefined, {
        htm: req.method ?? 'GET',
        htu: `${origin}${url.pathname}`,
        accessToken: token,
        seen,
      });
      if (!checked.ok) return refuse(res, 'invalid_dpop_proof', checked.reason);
      if (options.requireNonce) {
        if (server.challengeAlways) {
          nonce = newNonce();
          return challenge(res);
        }
        if (announced !== undefined && checked.nonce === announced) {
          nonce = announced;
          announced = undefined;
        }
        if (checked.nonce !== nonce) return challenge(res);
      }
      proof = { method: req.method ?? 'GET', path: req.url ?? '/', jti: checked.jti, jkt: checked.jkt, ...(checked.nonce ? { nonce: checked.nonce } : {}) };
    }
    const introspection = await idp.introspect(token);
    if (!introspection.active) return refuse(res, 'invalid_token', 'token not active');
    if (proof && introspection.cnf?.jkt !== proof.jkt) return refuse(res, 'invalid_token', 'token bound to another key');
    stats.ok++;
    if (proof) stats.accepted.push(proof);
    // A body, so a request's own body (PUT, POST) is read before the answer.
    for await (const _chunk of req) void _chunk;
    reply(res, 200, { ok: true, path: req.url, sub: introspection.sub });
  };
  const http = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => resolve());
  });
  origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  server.origin = origin;
  server.api = `${origin}/api`;
  return server;
}
