/**
 * A rotating OAuth 2.0 token server and a bearer-protected resource, as plain logic. Two
 * transports serve it: msw handlers (`tokenServerHandlers`) and a real node:http server
 * (`authchart/testing/node`). It behaves like a strict RFC 9700 server: every refresh
 * rotates the refresh token, and presenting a rotated one again revokes the whole token
 * family. Faults can be queued for the next token calls.
 */

/** A fault the next token call suffers. */
export type TokenServerFault =
  /** 503, optionally with Retry-After. Nothing rotated. */
  | { type: 'unavailable'; retryAfterSeconds?: number }
  /** 429 with Retry-After. Nothing rotated. */
  | { type: 'rateLimited'; retryAfterSeconds: number }
  /** The connection is reset before the request is processed. */
  | { type: 'reset' }
  /** The refresh token is rotated, then the connection is reset: the client never sees the new tokens. */
  | { type: 'lostResponse' }
  /** The answer comes after `ms` (the rotation happens then). */
  | { type: 'delay'; ms: number }
  /** 200 with an HTML page instead of JSON (a proxy's error page). Nothing rotated. */
  | { type: 'html' }
  /** 200 JSON without `access_token` or `refresh_token`. Nothing rotated. */
  | { type: 'missingFields' }
  /** 200 JSON with `token_type` "mac". Nothing rotated. */
  | { type: 'wrongTokenType' }
  /** 200 JSON with a negative `expires_in`. Nothing rotated. */
  | { type: 'negativeExpiresIn' }
  /** 400 `invalid_grant` whatever the token. */
  | { type: 'invalidGrant' }
  /**
   * The refresh token IS rotated, but the 200 answer is one a client may refuse: no
   * `access_token`, a `token_type` other than Bearer, or a negative `expires_in`. The new
   * refresh token is in the answer: a client that presents the old one again is a reuse.
   */
  | { type: 'rotatedButMalformed'; problem: 'noAccessToken' | 'dpopTokenType' | 'negativeExpiresIn' };

export interface TokenServerOptions {
  /**
   * Access-token lifetime.
   * @default 60
   */
  accessTokenTtlSeconds?: number;
  /**
   * What presenting a rotated refresh token does: revoke the whole family (strict RFC 9700,
   * Spotify PKCE) or only refuse that token.
   * @default 'revoke-family'
   */
  reuse?: 'revoke-family' | 'reject';
  /**
   * A grace window (Auth0's reuse interval, Okta's 30 s): within it, presenting the refresh
   * token that was just rotated away returns the family's current tokens instead of a reuse.
   * @default 0
   */
  reuseGraceMs?: number;
  /** Require this client id (and secret, by Basic header or body) on token calls. */
  clientId?: string;
  clientSecret?: string;
  /**
   * Omit `refresh_token` from refresh answers (the client must keep the old one), as some
   * servers do; then no rotation happens.
   * @default false
   */
  omitRefreshToken?: boolean;
  /**
   * Add an OpenID Connect `id_token` to every token answer, naming this issuer (`iss`) and
   * the client id (`aud`), as Keycloak, Okta, Auth0 or Google do: their issuer is often not
   * the token endpoint's origin. The token is not signed (`alg` RS256 with an empty
   * signature): clients do not verify the signature of an id_token from the token endpoint.
   */
  idTokenIssuer?: string;
  /** @default Date.now */
  now?: () => number;
}

/** What a transport sends back. */
export type TokenServerReply =
  | { kind: 'json'; status: number; body: Record<string, unknown>; headers?: Record<string, string> }
  | { kind: 'html'; status: number; body: string }
  | { kind: 'reset' };

/** One token call, as the server saw it. */
export interface TokenCall {
  at: number;
  grantType: string;
  /** The refresh token presented (for refresh grants). A secret: tests only. */
  refreshToken?: string;
  outcome: 'rotated' | 'issued' | 'grace' | 'reuse-detected' | 'revoked' | 'unknown' | 'client-rejected' | 'bad-request' | `fault:${TokenServerFault['type']}`;
}

/** The resource server's answer to a checked request: 200 with an echo, or 401 with a Bearer challenge. */
export function resourceReply(check: ResourceCheck, request: { method: string; path: string; body?: string }): TokenServerReply {
  if (!check.ok) {
    return {
      kind: 'json',
      status: 401,
      body: { error: check.error },
      headers: { 'www-authenticate': `Bearer error="${check.error === 'missing' ? 'invalid_request' : 'invalid_token'}"` },
    };
  }
  return { kind: 'json', status: 200, body: { ok: true, method: request.method, path: request.path, ...(request.body ? { body: request.body } : {}) } };
}

export type ResourceCheck = { ok: true; family: string } | { ok: false; error: 'missing' | 'invalid_token' | 'expired' };

interface Family {
  id: string;
  revoked: boolean;
  refreshToken: string;
  access: { token: string; expiresIn: number; refreshToken: string };
  previous?: { token: string; rotatedAt: number };
}

function randomToken(prefix: string): string {
  const bytes = new Uint8Array(18);
  globalThis.crypto.getRandomValues(bytes);
  const token = `${prefix}_${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  issued.add(token);
  return token;
}

/** Every token any server created in this realm, for leak checks in tests. */
const issued = new Set<string>();

/** Every access and refresh token the token servers of this realm have issued (tests use it to prove none leaks). */
export function issuedSecrets(): readonly string[] {
  return [...issued];
}

function decodeBasic(header: string | null): { id: string; secret: string } | null {
  if (!header?.toLowerCase().startsWith('basic ')) return null;
  try {
    const [id, secret] = atob(header.slice(6).trim()).split(':');
    return id !== undefined && secret !== undefined
      ? { id: decodeURIComponent(id.replace(/\+/g, ' ')), secret: decodeURIComponent(secret.replace(/\+/g, ' ')) }
      : null;
  } catch {
    return null;
  }
}

export interface TokenServer {
  /** Sign a user in: a new token family. Returns an OAuth token response. */
  login(): { access_token: string; refresh_token: string; token_type: 'Bearer'; expires_in: number };
  /** Handle a token-endpoint request (form parameters and the Authorization header). */
  token(request: { form: URLSearchParams; authorization: string | null }, sleep: (ms: number) => Promise<void>): Promise<TokenServerReply>;
  /** Check a resource request's Authorization header. */
  authenticate(authorization: string | null): ResourceCheck;
  /** Queue faults for the next token calls, in order. */
  fault(...faults: TokenServerFault[]): void;
  /**
   * Make every access token issued so far expired, or only the ones given (a request that
   * was sent with an old token and reaches the server after that token's expiry).
   */
  expireAccessTokens(only?: readonly string[]): void;
  /** Revoke the family a refresh token belongs to. */
  revoke(refreshToken: string): void;
  /** Whether this refresh token is the current one of a live family (the session would survive a refresh). */
  isAlive(refreshToken: string): boolean;
  /** Every token call so far. */
  readonly calls: readonly TokenCall[];
  /** Counters. */
  readonly stats: { tokenCalls: number; refreshCalls: number; reuseDetected: number; resourceCalls: number; resourceUnauthorized: number };
  /** Forget calls and counters (families stay). */
  resetStats(): void;
}

/**
 * Create the token server's logic.
 * @example
 * const server = createTokenServer({ accessTokenTtlSeconds: 2 })
 * const tokens = server.login()
 */
export function createTokenServer(options: TokenServerOptions = {}): TokenServer {
  const now = options.now ?? Date.now;
  const ttl = options.accessTokenTtlSeconds ?? 60;
  const families = new Map<string, Family>();
  const byRefresh = new Map<string, Family>();
  const byAccess = new Map<string, { family: Family; expiresAt: number }>();
  const faults: TokenServerFault[] = [];
  let calls: TokenCall[] = [];
  const stats = { tokenCalls: 0, refreshCalls: 0, reuseDetected: 0, resourceCalls: 0, resourceUnauthorized: 0 };

  const issue = (family: Family, rotate: boolean) => {
    if (rotate) {
      family.previous = { token: family.refreshToken, rotatedAt: now() };
      family.refreshToken = randomToken('rt');
      byRefresh.set(family.refreshToken, family);
    }
    const accessToken = randomToken('at');
    byAccess.set(accessToken, { family, expiresAt: now() + ttl * 1000 });
    family.access = { token: accessToken, expiresIn: ttl, refreshToken: family.refreshToken };
    return family.access;
  };
  const tokenBody = (access: Family['access'], withRefresh: boolean, clientId?: string): Record<string, unknown> => ({
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: access.expiresIn,
    ...(withRefresh ? { refresh_token: access.refreshToken } : {}),
    ...(options.idTokenIssuer ? { id_token: idToken(options.idTokenIssuer, clientId ?? options.clientId ?? 'client', now()) } : {}),
  });
  const oauthError = (status: number, error: string, description: string): TokenServerReply => ({
    kind: 'json',
    status,
    body: { error, error_description: description },
    headers: { 'cache-control': 'no-store' },
  });
  const newFamily = (): Family => {
    const family: Family = { id: randomToken('fam'), revoked: false, refreshToken: randomToken('rt'), access: { token: '', expiresIn: ttl, refreshToken: '' } };
    families.set(family.id, family);
    byRefresh.set(family.refreshToken, family);
    issue(family, false);
    return family;
  };

  const clientOk = (form: URLSearchParams, authorization: string | null): boolean => {
    if (!options.clientId) return true;
    const basic = decodeBasic(authorization);
    const id = basic?.id ?? form.get('client_id');
    const secret = basic?.secret ?? form.get('client_secret');
    if (id !== options.clientId) return false;
    return options.clientSecret === undefined || secret === options.clientSecret;
  };

  const refreshGrant = (
    presented: string,
    record: TokenCall,
    clientId: string | undefined,
    malformed?: Extract<TokenServerFault, { type: 'rotatedButMalformed' }>,
  ): TokenServerReply => {
    const family = byRefresh.get(presented);
    if (!family) {
      record.outcome = 'unknown';
      return oauthError(400, 'invalid_grant', 'Unknown refresh token.');
    }
    if (family.revoked) {
      record.outcome = 'revoked';
      return oauthError(400, 'invalid_grant', 'Refresh token revoked.');
    }
    if (presented !== family.refreshToken) {
      const grace = options.reuseGraceMs ?? 0;
      if (grace > 0 && family.previous?.token === presented && now() - family.previous.rotatedAt <= grace) {
        record.outcome = 'grace';
        return { kind: 'json', status: 200, body: tokenBody(family.access, true, clientId), headers: { 'cache-control': 'no-store' } };
      }
      stats.reuseDetected++;
      record.outcome = 'reuse-detected';
      if ((options.reuse ?? 'revoke-family') === 'revoke-family') family.revoked = true;
      return oauthError(400, 'invalid_grant', 'Refresh token reuse detected; the session is revoked.');
    }
    record.outcome = 'rotated';
    const access = issue(family, !options.omitRefreshToken);
    const body = tokenBody(access, !options.omitRefreshToken, clientId);
    if (malformed) {
      record.outcome = 'fault:rotatedButMalformed';
      if (malformed.problem === 'noAccessToken') delete body.access_token;
      if (malformed.problem === 'dpopTokenType') body.token_type = 'DPoP';
      if (malformed.problem === 'negativeExpiresIn') body.expires_in = -5;
    }
    return { kind: 'json', status: 200, body, headers: { 'cache-control': 'no-store' } };
  };

  return {
    login() {
      const family = newFamily();
      return { access_token: family.access.token, refresh_token: family.refreshToken, token_type: 'Bearer', expires_in: ttl };
    },
    async token({ form, authorization }, sleep) {
      stats.tokenCalls++;
      const grantType = form.get('grant_type') ?? '';
      const record: TokenCall = { at: now(), grantType, outcome: 'bad-request' };
      if (grantType === 'refresh_token') {
        stats.refreshCalls++;
        record.refreshToken = form.get('refresh_token') ?? '';
      }
      calls.push(record);
      const fault = faults.shift();
      if (fault) {
        if (fault.type === 'delay') await sleep(fault.ms);
        else if (fault.type !== 'lostResponse' && fault.type !== 'rotatedButMalformed') {
          record.outcome = `fault:${fault.type}`;
          return faultReply(fault);
        }
      }
      if (!clientOk(form, authorization)) {
        record.outcome = 'client-rejected';
        return oauthError(401, 'invalid_client', 'Client authentication failed.');
      }
      let reply: TokenServerReply;
      const clientId = decodeBasic(authorization)?.id ?? form.get('client_id') ?? undefined;
      if (grantType === 'refresh_token') {
        const presented = form.get('refresh_token');
        const malformed = fault?.type === 'rotatedButMalformed' ? fault : undefined;
        reply = presented ? refreshGrant(presented, record, clientId, malformed) : oauthError(400, 'invalid_request', 'refresh_token is required.');
      } else if (grantType === 'password' && form.get('username') && form.get('password')) {
        const family = newFamily();
        record.outcome = 'issued';
        reply = { kind: 'json', status: 200, body: tokenBody(family.access, true, clientId), headers: { 'cache-control': 'no-store' } };
      } else {
        reply = oauthError(400, 'unsupported_grant_type', 'Only refresh_token and password grants are served.');
      }
      if (fault?.type === 'lostResponse') {
        record.outcome = 'fault:lostResponse';
        return { kind: 'reset' };
      }
      return reply;
    },
    authenticate(authorization) {
      stats.resourceCalls++;
      const fail = (error: 'missing' | 'invalid_token' | 'expired'): ResourceCheck => {
        stats.resourceUnauthorized++;
        return { ok: false, error };
      };
      const match = /^Bearer (.+)$/i.exec(authorization ?? '');
      if (!match) return fail('missing');
      const entry = byAccess.get(match[1]!);
      if (!entry || entry.family.revoked) return fail('invalid_token');
      if (now() >= entry.expiresAt) return fail('expired');
      return { ok: true, family: entry.family.id };
    },
    fault(...more) {
      faults.push(...more);
    },
    expireAccessTokens(only) {
      const at = now();
      const entries = only ? only.map((token) => byAccess.get(token)).filter((entry) => entry !== undefined) : byAccess.values();
      for (const entry of entries) entry.expiresAt = Math.min(entry.expiresAt, at);
    },
    revoke(refreshToken) {
      const family = byRefresh.get(refreshToken);
      if (family) family.revoked = true;
    },
    isAlive(refreshToken) {
      const family = byRefresh.get(refreshToken);
      return Boolean(family && !family.revoked && family.refreshToken === refreshToken);
    },
    get calls() {
      return calls;
    },
    stats,
    resetStats() {
      calls = [];
      for (const key of Object.keys(stats) as (keyof typeof stats)[]) stats[key] = 0;
    },
  };
}

/** An unsigned OpenID Connect id_token (header `RS256`, empty signature) for `clientId`. */
function idToken(issuer: string, clientId: string, now: number): string {
  const encode = (value: unknown) => btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  const iat = Math.floor(now / 1000);
  return `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({ iss: issuer, aud: clientId, sub: 'user-1', iat, exp: iat + 300 })}.`;
}

function faultReply(fault: Exclude<TokenServerFault, { type: 'delay' } | { type: 'lostResponse' } | { type: 'rotatedButMalformed' }>): TokenServerReply {
  switch (fault.type) {
    case 'unavailable':
      return {
        kind: 'json',
        status: 503,
        body: { error: 'temporarily_unavailable' },
        headers: fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {},
      };
    case 'rateLimited':
      return { kind: 'json', status: 429, body: { error: 'slow_down' }, headers: { 'retry-after': String(fault.retryAfterSeconds) } };
    case 'reset':
      return { kind: 'reset' };
    case 'html':
      return { kind: 'html', status: 200, body: '<!doctype html><title>Gateway</title><p>Please wait…</p>' };
    case 'missingFields':
      return { kind: 'json', status: 200, body: { token_type: 'Bearer', expires_in: 60 } };
    case 'wrongTokenType':
      return { kind: 'json', status: 200, body: { access_token: randomToken('at'), token_type: 'mac', expires_in: 60 } };
    case 'negativeExpiresIn':
      return { kind: 'json', status: 200, body: { access_token: randomToken('at'), token_type: 'Bearer', expires_in: -5 } };
    case 'invalidGrant':
      return { kind: 'json', status: 400, body: { error: 'invalid_grant', error_description: 'Refresh token revoked.' } };
  }
}
