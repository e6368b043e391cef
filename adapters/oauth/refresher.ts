import * as oauth from 'oauth4webapi';
import { InvalidOptionsError, InvalidTokenResponseError, RefreshError, type RotatedTokens } from '../core/errors.js';
import { httpRefreshError } from '../core/http-failure.js';
import { positiveOption } from '../core/options.js';
import type { RefreshedTokens, Refresher } from '../core/ports.js';
import { NONCE_PROBE_REFRESH_TOKEN, nonceChallenge, tokenEndpointDPoP } from './dpop.js';

export interface OAuthRefresherOptions {
  /**
   * The authorization server's token endpoint. In a browser it may be relative to the page
   * (`'/oauth/token'`, for a token endpoint on the app's own origin or behind its proxy): it
   * is resolved once, against `location.href` when `oauthRefresher` is called. Outside a
   * browser it must be absolute (`INVALID_OPTIONS` otherwise).
   * @example 'https://auth.example.com/oauth/token'
   */
  tokenEndpoint: string | URL;
  /** The OAuth client id. */
  clientId: string;
  /** The client secret of a confidential client. Public clients (SPAs, PKCE) leave it out. */
  clientSecret?: string;
  /**
   * How a confidential client authenticates (RFC 6749 §2.3.1).
   * @default 'client_secret_basic' with a secret, 'none' without
   */
  clientAuthentication?: 'client_secret_basic' | 'client_secret_post' | 'none';
  /**
   * The provider's issuer identifier (the `iss` of its tokens, e.g.
   * `https://keycloak.example.com/realms/main` or `https://tenant.auth0.com/`). When given,
   * an `id_token` in a refresh answer is validated against it (`iss`, `aud`, `exp`); when
   * left out, an `id_token` is passed over unvalidated, since authchart uses only the
   * access and refresh tokens. Either way a refused answer never costs the session: the
   * rotated refresh token it carried is kept (R11).
   * @default undefined (id_tokens are not validated)
   */
  issuer?: string;
  /** Narrow the scope of the new access token (RFC 6749 §6). */
  scope?: string;
  /** Extra form parameters for the token request. */
  additionalParameters?: Record<string, string>;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /**
   * The fetch used for the token call.
   * @default globalThis.fetch
   */
  fetch?: typeof fetch;
  /**
   * Allow plain `http:` token endpoints. By default only loopback hosts (127.0.0.1, ::1,
   * localhost) may use `http:`; every other endpoint must be `https:`.
   */
  allowInsecureRequests?: boolean;
  /**
   * DPoP (RFC 9449). DPoP is on when the session has a key store (`createSession({ dpop })`):
   * every token call then carries a proof signed with the session's key pair, and a
   * `token_type` of `DPoP` is accepted (a server without DPoP support answers `Bearer`, which
   * is accepted too). A refresh token is presented only with a nonce the server issued in the
   * last `nonceMaxAgeMs` (when it uses nonces): otherwise a probe that presents no refresh
   * token fetches one first, so a server that consumes the refresh token before checking the
   * nonce never sees it presented twice. A `use_dpop_nonce` answer is retried at once with
   * the new nonce and never counts as a failure.
   * @default { nonceMaxAgeMs: 60000 }
   * @example
   * oauthRefresher({ tokenEndpoint, clientId, dpop: { nonceMaxAgeMs: 30_000 } })
   */
  dpop?: {
    /**
     * How long a nonce is trusted with a refresh token after the server issued (or last
     * accepted) it. Keep it below the server's nonce lifetime (oidc-provider: 3 to 4 min;
     * AT Protocol: 3 min).
     * @default 60000
     */
    nonceMaxAgeMs?: number;
  };
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * The token endpoint as an absolute URL. In a browser a relative one (`'/oauth/token'`) is
 * resolved against the page's URL once, here, as `fetch('/oauth/token')` would be; outside a
 * browser there is no page to resolve it against, so it is refused.
 */
function tokenEndpointUrl(value: string | URL): URL {
  const text = String(value);
  const page = (globalThis as { location?: { href?: unknown } }).location?.href;
  try {
    return new URL(text);
  } catch {
    // Not absolute: resolved against the page below, or refused.
  }
  if (typeof page !== 'string') {
    throw new InvalidOptionsError(
      `tokenEndpoint "${text.slice(0, 200)}" is not an absolute URL. A relative token endpoint is resolved against the page's URL in a browser; elsewhere give the full URL (https://auth.example.com/oauth/token).`,
    );
  }
  try {
    return new URL(text, page);
  } catch {
    throw new InvalidOptionsError(`tokenEndpoint "${text.slice(0, 200)}" is not a URL.`);
  }
}

function responseOf(error: unknown): Response | undefined {
  const candidate = (error as { response?: unknown; cause?: unknown }) ?? {};
  if (candidate.response instanceof Response) return candidate.response;
  if (candidate.cause instanceof Response) return candidate.cause;
  return undefined;
}

function httpFailure(status: number, oauthError: string | undefined, response: Response | undefined): RefreshError {
  return httpRefreshError(status, oauthError, response?.headers.get('retry-after'));
}

/**
 * Map what oauth4webapi threw to a {@link RefreshError}. Its errors carry the response body
 * as `cause`, which may hold tokens, so none of them is kept as a cause.
 */
function toRefreshFailure(error: unknown, status: number | undefined): RefreshError {
  if (error instanceof oauth.ResponseBodyError) return httpFailure(error.status, error.error, error.response);
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    const challenge = error.cause?.[0]?.parameters?.error;
    return httpFailure(error.status, typeof challenge === 'string' ? challenge : undefined, error.response);
  }
  if (error instanceof oauth.OperationProcessingError) {
    const response = responseOf(error);
    if (error.code === oauth.RESPONSE_IS_NOT_CONFORM && response) return httpFailure(response.status, undefined, response);
    if (error.code === oauth.HTTP_REQUEST_FORBIDDEN || error.code === oauth.REQUEST_PROTOCOL_FORBIDDEN) {
      return new RefreshError(
        { kind: 'permanent', reason: 'INSECURE_ENDPOINT' },
        'The token endpoint must use https: (set allowInsecureRequests only for local development).',
      );
    }
    return new InvalidTokenResponseError(error.message, { status });
  }
  if (error instanceof oauth.UnsupportedOperationError) return new InvalidTokenResponseError(error.message, { status });
  if (error instanceof TypeError) return new RefreshError({ kind: 'transient', reason: 'NETWORK' }, 'The token endpoint could not be reached (network error).');
  return new RefreshError({ kind: 'transient', reason: 'UNKNOWN' });
}

/**
 * An OAuth 2.0 refresh-token grant (RFC 6749 §6), over oauth4webapi: form-encoded POST,
 * client authentication by Basic header or body, or none for public clients. The response
 * is validated (`access_token` string, `token_type` bearer, `expires_in` a non-negative
 * number when present); a rotated `refresh_token` replaces the old one, which is kept only
 * when the server sends none.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @example
 * const refresh = oauthRefresher({ tokenEndpoint: 'https://auth.example.com/oauth/token', clientId: 'spa' })
 */
export function oauthRefresher(options: OAuthRefresherOptions): Refresher {
  const endpoint = tokenEndpointUrl(options.tokenEndpoint);
  if (!options.clientId) throw new InvalidOptionsError('clientId is required.');
  const as: oauth.AuthorizationServer = {
    // Used only to validate an id_token, which happens only when the user gave the issuer.
    issuer: options.issuer ?? endpoint.origin,
    token_endpoint: endpoint.href,
  };
  const client: oauth.Client = { client_id: options.clientId };
  const method = options.clientAuthentication ?? (options.clientSecret ? 'client_secret_basic' : 'none');
  if (method !== 'none' && !options.clientSecret) throw new InvalidOptionsError(`clientAuthentication "${method}" needs a clientSecret.`);
  const clientAuth =
    method === 'client_secret_basic'
      ? oauth.ClientSecretBasic(options.clientSecret!)
      : method === 'client_secret_post'
        ? oauth.ClientSecretPost(options.clientSecret!)
        : oauth.None();
  const insecure = options.allowInsecureRequests ?? (endpoint.protocol === 'http:' && LOOPBACK.has(endpoint.hostname));
  const baseFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  const extra = new URLSearchParams(options.additionalParameters);
  if (options.scope) extra.set('scope', options.scope);
  const dpop = tokenEndpointDPoP(client, positiveOption('dpop.nonceMaxAgeMs', options.dpop?.nonceMaxAgeMs, 60_000, 'number of milliseconds'));

  const grantRequest = (refreshToken: string, signal: AbortSignal, handle: oauth.DPoPHandle | undefined) =>
    oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, {
      signal,
      headers: options.headers,
      additionalParameters: extra,
      ...(handle ? { DPoP: handle } : {}),
      [oauth.allowInsecureRequests]: insecure,
      [oauth.customFetch]: (url, init) => baseFetch(url, init as RequestInit),
    });

  return async (refreshToken, { signal, dpopKeyPair }): Promise<RefreshedTokens> => {
    let response: Response;
    try {
      if (dpopKeyPair && dpop.needsProbe()) await dpop.probe(dpopKeyPair, (probeHandle) => grantRequest(NONCE_PROBE_REFRESH_TOKEN, signal, probeHandle));
      response = await grantRequest(refreshToken, signal, dpopKeyPair ? dpop.handle(dpopKeyPair) : undefined);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw toRefreshFailure(error, undefined);
    }
    const status = response.status;
    if (dpopKeyPair) dpop.learn(response, status >= 200 && status <= 299);
    if (status < 200 || status > 299) {
      try {
        await oauth.processRefreshTokenResponse(as, client, response);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        // Asked for a nonce: the proof was checked before the grant, nothing was consumed.
        if (dpopKeyPair && oauth.isDPoPNonceError(error)) throw nonceChallenge(status);
        const failure = toRefreshFailure(error, status);
        // A failed answer whose body is no OAuth error (empty, an HTML page from a proxy):
        // its status decides, so a 4xx is permanent like every other (R5, RFC 6749 §5.2).
        throw failure instanceof InvalidTokenResponseError ? httpFailure(status, undefined, response) : failure;
      }
      throw httpFailure(status, undefined, response);
    }
    return acceptAnswer(response, { as, client, validateIdToken: options.issuer !== undefined, dpop: dpopKeyPair !== undefined, signal });
  };
}

/** Read the body of a 2xx answer as a JSON object, or null when it is not one. */
async function jsonObject(response: Response): Promise<Record<string, unknown> | null> {
  try {
    const value: unknown = JSON.parse(await response.text());
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Why oauth4webapi refused a claim of the id_token, in words that name the option to fix. */
function idTokenProblem(error: unknown): string | undefined {
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message !== 'string' || !/JWT|id_token/i.test(message)) return undefined;
  if (/"iss"/.test(message)) {
    return "its id_token names another issuer than the `issuer` option; set `issuer` to the provider's issuer identifier exactly (trailing slash and path included), or leave it out to skip id_token validation";
  }
  return `its id_token failed validation (${message}); check the \`issuer\` and \`clientId\` options, or leave \`issuer\` out to skip id_token validation`;
}

/**
 * Accept a 2xx answer (RFC 6749 §5.1), or refuse it without losing the rotation: a 2xx
 * answer means the server may have rotated the refresh token, so whatever is refused, the
 * new refresh token (and the access token, when it is a usable Bearer token) travel with
 * the error for the session to keep (R11).
 */
async function acceptAnswer(
  response: Response,
  context: { as: oauth.AuthorizationServer; client: oauth.Client; validateIdToken: boolean; dpop: boolean; signal: AbortSignal },
): Promise<RefreshedTokens> {
  const status = response.status;
  const body = await jsonObject(response);
  if (context.signal.aborted) throw context.signal.reason;
  if (!body) throw new InvalidTokenResponseError('the body is not a JSON object', { status });
  const text = (field: string) => (typeof body[field] === 'string' && body[field] !== '' ? (body[field] as string) : undefined);
  const tokenType = typeof body.token_type === 'string' ? body.token_type.toLowerCase() : undefined;
  // DPoP-bound tokens only when the call was made with DPoP; Bearer always (RFC 9449 §5: a
  // server without DPoP support ignores the proof and answers Bearer).
  const usable = tokenType === 'bearer' || (context.dpop && tokenType === 'dpop');
  const rotated: RotatedTokens = {};
  if (text('refresh_token')) rotated.refreshToken = text('refresh_token');
  if (text('access_token') && usable) rotated.accessToken = text('access_token');
  if (typeof body.expires_in === 'number' && Number.isFinite(body.expires_in) && body.expires_in >= 0) rotated.expiresIn = body.expires_in;
  // With DPoP on, the type says how the front ends send the token (a server without DPoP
  // support answers Bearer); without it every token is Bearer, and nothing is recorded.
  const recordedType = context.dpop ? (tokenType === 'dpop' ? 'DPoP' : 'Bearer') : undefined;
  if (rotated.accessToken && recordedType) rotated.tokenType = recordedType;
  const refuse = (problem: string) => new InvalidTokenResponseError(problem, { status, rotated });

  // oauth4webapi checks the answer's shape; the id_token only when the issuer is known.
  const checked = { ...body };
  if (!context.validateIdToken) delete checked.id_token;
  let result: oauth.TokenEndpointResponse;
  try {
    result = await oauth.processRefreshTokenResponse(
      context.as,
      context.client,
      new Response(JSON.stringify(checked), { status: 200, headers: { 'content-type': 'application/json' } }),
    );
  } catch (error) {
    throw refuse(idTokenProblem(error) ?? (error instanceof Error ? error.message : 'unreadable answer'));
  }
  if (!usable) {
    throw refuse(
      context.dpop
        ? `its token_type is "${String(body.token_type).slice(0, 16)}"; authchart uses DPoP and Bearer tokens only`
        : `its token_type is "${String(body.token_type).slice(0, 16)}"; authchart sends Bearer tokens only (RFC 6750) unless DPoP is on (the session's \`dpop\` option)`,
    );
  }
  if (typeof result.expires_in === 'number' && result.expires_in < 0) throw refuse('"expires_in" is negative');
  const answer: RefreshedTokens = { accessToken: result.access_token, refreshToken: result.refresh_token, expiresIn: result.expires_in };
  if (recordedType) answer.tokenType = recordedType;
  return answer;
}
