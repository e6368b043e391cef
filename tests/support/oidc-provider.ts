/**
 * A real OpenID provider for end-to-end suites: oidc-provider (v9) on 127.0.0.1, with an
 * issuer that has a path (`/realms/demo`, as Keycloak and Okta use), reached through a
 * same-origin reverse proxy (node:http), so the token endpoint's origin is not the issuer.
 *
 * - Refresh tokens rotate on every use; presenting a rotated one again ("refresh token
 *   already used") revokes the whole grant, as oidc-provider does on reuse.
 * - Sign-in runs the real authorization code flow with PKCE over HTTP (devInteractions:
 *   the login and consent forms are posted like a browser would), scope
 *   `openid offline_access`, so every refresh answer carries an `id_token`.
 * - DPoP (RFC 9449) can be turned on, with nonces required.
 * - Counters of token calls and their outcomes, from the provider's own events.
 */
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'oauth4webapi';
import Provider from 'oidc-provider';

/** Path of the issuer (and of every endpoint), as realms have in Keycloak. */
export const REALM_PATH = '/realms/demo';

export interface OidcProviderOptions {
  /** Turn DPoP on; with `requireNonce`, every proof must carry a nonce the provider issued. */
  dpop?: { requireNonce: boolean };
  /**
   * Access-token lifetime of refresh answers.
   * @default 300
   */
  accessTokenTtlSeconds?: number;
  /** Origins of pages that may call the token endpoint from a browser (CORS). */
  corsOrigins?: string[];
}

/** What a client that exchanges the code itself (a page, with its own DPoP key) needs. */
export interface AuthorizedCode {
  /** The redirect the provider sent the browser to, with the code. */
  callbackUrl: string;
  state: string;
  codeVerifier: string;
  redirectUri: string;
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  clientId: string;
}

/** What a sign-in returns: the first tokens of a new grant. */
export interface SignedIn {
  accessToken: string;
  refreshToken: string;
  idToken: string;
  tokenType: string;
  expiresIn: number;
}

/** One call to the token endpoint, as the proxy saw it. */
export interface TokenCallRecord {
  grantType: string;
  /** The refresh token presented (refresh grants). A secret: tests only. */
  refreshToken?: string;
  /** Whether the request carried a DPoP proof. */
  dpop: boolean;
  status: number;
  /** The OAuth error of a refused call. */
  error?: string;
}

export interface OidcCounters {
  /** Calls to the token endpoint (every grant, through the proxy). */
  tokenCalls: number;
  /** Refresh grants that rotated the refresh token. */
  rotated: number;
  /** Token calls refused with `invalid_grant` (reuse included). */
  invalidGrant: number;
  /** Refresh tokens presented after their rotation ("refresh token already used"). */
  reuseDetected: number;
  /** Grants revoked (reuse revokes the grant). */
  revoked: number;
  /** Token calls answered `use_dpop_nonce`. */
  useDpopNonce: number;
}

export interface OidcFixture {
  /** `http://127.0.0.1:<proxy port>/realms/demo`: not the token endpoint's origin. */
  issuer: string;
  tokenEndpoint: string;
  introspectionEndpoint: string;
  /** The public client the app signs in with (no secret, PKCE). */
  clientId: string;
  /** A confidential client for resource servers, allowed to introspect. */
  resourceClient: { clientId: string; clientSecret: string };
  counters: OidcCounters;
  /** Every token call, in order. */
  calls: TokenCallRecord[];
  resetCounters(): void;
  /**
   * Sign a user in through the authorization code flow (PKCE, devInteractions over HTTP).
   * With `dpop`, the code exchange is DPoP-bound to that key pair (nonce retried once).
   * `accessTokenTtlSeconds` sets the first access token's lifetime.
   */
  signIn(options?: { dpop?: CryptoKeyPair; accessTokenTtlSeconds?: number; account?: string }): Promise<SignedIn>;
  /**
   * The first half of a sign-in: the authorization request through login and consent
   * (PKCE), for a client that exchanges the code itself. `accessTokenTtlSeconds` sets the
   * lifetime of the next access token the provider issues.
   */
  authorize(options?: { accessTokenTtlSeconds?: number; account?: string }): Promise<AuthorizedCode>;
  /** RFC 7662 introspection of an access token, as the resource server's client. */
  introspect(token: string): Promise<{ active: boolean; cnf?: { jkt?: string }; client_id?: string; sub?: string; exp?: number }>;
  /**
   * The next answer of the token endpoint carries a `DPoP-Nonce` the provider never issued
   * (replacing its own, if any): the client's next proof carries a nonce the provider
   * refuses, as it refuses one that went stale.
   */
  poisonNextNonce(): void;
  close(): Promise<void>;
}

const REDIRECT_URI = 'http://127.0.0.1/callback';
const CLIENT_ID = 'authchart-spa';

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Signing keys of the provider (RS256 for id_tokens, ES256 too), made fresh for each run. */
function providerKeys(): { keys: object[] } {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return {
    keys: [
      { ...rsa, use: 'sig', alg: 'RS256', kid: 'rs' },
      { ...ec, use: 'sig', alg: 'ES256', kid: 'es' },
    ],
  };
}

/** A cookie jar for one browser-like sign-in (names only: the provider's cookies have distinct names). */
class CookieJar {
  readonly #cookies = new Map<string, string>();
  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      if (at > 0) this.#cookies.set(pair!.slice(0, at).trim(), pair!.slice(at + 1).trim());
    }
  }
  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

/**
 * Start the provider, its proxy, and return the fixture. Close it in `afterAll`.
 * @example
 * const idp = await startOidcProvider({ dpop: { requireNonce: true } })
 * const tokens = await idp.signIn({ dpop: keyPair })
 */
export async function startOidcProvider(options: OidcProviderOptions = {}): Promise<OidcFixture> {
  const proxy = createServer();
  const proxyPort = await listen(proxy);
  const origin = `http://127.0.0.1:${proxyPort}`;
  const issuer = `${origin}${REALM_PATH}`;
  const resourceClient = { clientId: 'authchart-resource-server', clientSecret: randomBytes(16).toString('hex') };
  let nextAccessTokenTtl: number | undefined;
  const refreshTtl = options.accessTokenTtlSeconds ?? 300;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        token_endpoint_auth_method: 'none',
        application_type: 'native',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        // With DPoP on, the provider refuses this client's token calls without a proof.
        ...(options.dpop ? { dpop_bound_access_tokens: true } : {}),
      },
      {
        client_id: resourceClient.clientId,
        client_secret: resourceClient.clientSecret,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: providerKeys(),
    ...(options.corsOrigins ? { clientBasedCORS: (_ctx: unknown, origin: string) => options.corsOrigins!.includes(origin) } : {}),
    cookies: { keys: [randomBytes(16).toString('hex')] },
    scopes: ['openid', 'offline_access'],
    // Strict rotation: every refresh rotates; a rotated token presented again revokes the grant.
    rotateRefreshToken: true,
    features: {
      devInteractions: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      dPoP: options.dpop ? { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => options.dpop!.requireNonce } : { enabled: false },
    },
    ttl: {
      AccessToken: () => {
        const ttl = nextAccessTokenTtl ?? refreshTtl;
        nextAccessTokenTtl = undefined;
        return ttl;
      },
      RefreshToken: 24 * 60 * 60,
      Grant: 24 * 60 * 60,
      IdToken: 3600,
      Interaction: 600,
      Session: 600,
      AuthorizationCode: 60,
    },
    // Offline access without asking again on every sign-in of the same account.
    issueRefreshToken: async () => true,
  });

  const counters: OidcCounters = { tokenCalls: 0, rotated: 0, invalidGrant: 0, reuseDetected: 0, revoked: 0, useDpopNonce: 0 };
  const calls: TokenCallRecord[] = [];
  provider.on('grant.success', (ctx) => {
    if (ctx.oidc.params?.grant_type === 'refresh_token') counters.rotated++;
  });
  provider.on('grant.error', (_ctx, error) => {
    if (error.error === 'invalid_grant') counters.invalidGrant++;
    if (error.error === 'use_dpop_nonce') counters.useDpopNonce++;
    if (/already used/.test(`${error.error_detail ?? ''} ${error.message}`)) counters.reuseDetected++;
  });
  provider.on('grant.revoked', () => {
    counters.revoked++;
  });

  // The provider itself, mounted at the realm path, on its own port.
  const callback = provider.callback();
  const backend = createServer((req, res) => {
    const url = req.url ?? '/';
    if (!url.startsWith(`${REALM_PATH}/`)) {
      res.writeHead(404).end();
      return;
    }
    // Mounted as Express mounts an app: the provider reads its mount path from originalUrl.
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = url;
    req.url = url.slice(REALM_PATH.length);
    callback(req, res);
  });
  const backendPort = await listen(backend);

  // The reverse proxy: same origin as the issuer, forwards everything, keeps the Host header.
  let poisonNonce = false;
  proxy.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const body = await readBody(req);
      const isToken = req.method === 'POST' && req.url === `${REALM_PATH}/token`;
      let record: TokenCallRecord | undefined;
      if (isToken) {
        counters.tokenCalls++;
        const form = new URLSearchParams(body.toString('utf8'));
        record = { grantType: form.get('grant_type') ?? '', dpop: req.headers.dpop !== undefined, status: 0 };
        const presented = form.get('refresh_token');
        if (presented !== null) record.refreshToken = presented;
        calls.push(record);
      }
      const upstream = httpRequest({ host: '127.0.0.1', port: backendPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        const headers = { ...answer.headers };
        if (poisonNonce && isToken) {
          poisonNonce = false;
          headers['dpop-nonce'] = randomBytes(32).toString('base64url');
        }
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const payload = Buffer.concat(chunks);
          if (record) {
            record.status = answer.statusCode ?? 0;
            if (record.status >= 400) {
              try {
                record.error = (JSON.parse(payload.toString('utf8')) as { error?: string }).error;
              } catch {
                // not JSON: no OAuth error to record
              }
            }
          }
          res.writeHead(answer.statusCode ?? 502, headers);
          res.end(payload);
        });
      });
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });

  const as: oauth.AuthorizationServer = {
    issuer,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/token/introspection`,
    authorization_response_iss_parameter_supported: true,
  };
  const client: oauth.Client = { client_id: CLIENT_ID };
  const insecure = { [oauth.allowInsecureRequests]: true } as const;

  /** Follow the authorization request through the login and consent forms to the redirect. */
  async function authorize(account: string, codeChallenge: string, state: string): Promise<URL> {
    const jar = new CookieJar();
    const start = new URL(as.authorization_endpoint!);
    for (const [name, value] of Object.entries({
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid offline_access',
      prompt: 'consent',
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
      state,
    })) {
      start.searchParams.set(name, value);
    }
    let url = start;
    let init: RequestInit = {};
    for (let hop = 0; hop < 12; hop++) {
      const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: jar.header() } });
      jar.take(response);
      init = {};
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        const next = new URL(location, url);
        if (next.href.startsWith(REDIRECT_URI)) return next;
        url = next;
        continue;
      }
      const page = await response.text();
      if (response.status !== 200) throw new Error(`[oidc-provider] sign-in stopped at ${url.pathname}: HTTP ${response.status} ${page.slice(0, 200)}`);
      const prompt = /name="prompt" value="(\w+)"/.exec(page)?.[1];
      const form: Record<string, string> | null = prompt === 'login' ? { prompt, login: account, password: 'any' } : prompt === 'consent' ? { prompt } : null;
      if (!form) throw new Error(`[oidc-provider] no login or consent form at ${url.pathname}`);
      init = { method: 'POST', body: new URLSearchParams(form), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    }
    throw new Error('[oidc-provider] sign-in did not reach the redirect URI');
  }

  const fixture: OidcFixture = {
    issuer,
    tokenEndpoint: as.token_endpoint!,
    introspectionEndpoint: as.introspection_endpoint!,
    clientId: CLIENT_ID,
    resourceClient,
    counters,
    calls,
    resetCounters() {
      for (const key of Object.keys(counters) as (keyof OidcCounters)[]) counters[key] = 0;
      calls.length = 0;
    },
    async signIn(signInOptions = {}) {
      const verifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const callbackUrl = await authorize(signInOptions.account ?? 'user-1', await oauth.calculatePKCECodeChallenge(verifier), state);
      const params = oauth.validateAuthResponse(as, client, callbackUrl, state);
      const DPoP = signInOptions.dpop ? oauth.DPoP(client, signInOptions.dpop) : undefined;
      const exchange = () =>
        oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT_URI, verifier, { ...insecure, ...(DPoP ? { DPoP } : {}) });
      nextAccessTokenTtl = signInOptions.accessTokenTtlSeconds;
      let result: oauth.TokenEndpointResponse;
      try {
        try {
          result = await oauth.processAuthorizationCodeResponse(as, client, await exchange(), { requireIdToken: true });
        } catch (error) {
          // The provider asks for a nonce first (RFC 9449 §8): the code is not spent yet.
          if (!oauth.isDPoPNonceError(error)) throw error;
          result = await oauth.processAuthorizationCodeResponse(as, client, await exchange(), { requireIdToken: true });
        }
      } finally {
        nextAccessTokenTtl = undefined;
      }
      if (!result.refresh_token || !result.id_token) throw new Error('[oidc-provider] the sign-in gave no refresh token or id_token');
      return {
        accessToken: result.access_token,
        refreshToken: result.refresh_token,
        idToken: result.id_token,
        tokenType: result.token_type,
        expiresIn: result.expires_in ?? 0,
      };
    },
    async introspect(token) {
      const response = await oauth.introspectionRequest(
        as,
        { client_id: resourceClient.clientId },
        oauth.ClientSecretBasic(resourceClient.clientSecret),
        token,
        insecure,
      );
      return (await oauth.processIntrospectionResponse(as, { client_id: resourceClient.clientId }, response)) as Awaited<ReturnType<OidcFixture['introspect']>>;
    },
    async authorize(authorizeOptions = {}) {
      const codeVerifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const callbackUrl = await authorize(authorizeOptions.account ?? 'user-1', await oauth.calculatePKCECodeChallenge(codeVerifier), state);
      nextAccessTokenTtl = authorizeOptions.accessTokenTtlSeconds;
      return {
        callbackUrl: callbackUrl.href,
        state,
        codeVerifier,
        redirectUri: REDIRECT_URI,
        issuer,
        authorizationEndpoint: as.authorization_endpoint!,
        tokenEndpoint: as.token_endpoint!,
        clientId: CLIENT_ID,
      };
    },
    poisonNextNonce() {
      poisonNonce = true;
    },
    async close() {
      await Promise.all([close(proxy), close(backend)]);
    },
  };
  return fixture;
}
