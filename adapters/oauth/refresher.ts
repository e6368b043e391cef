import * as oauth from 'oauth4webapi';
import { classifyTokenFailure, InvalidOptionsError, InvalidTokenResponseError, RefreshError, parseRetryAfter } from '../core/errors.js';
import type { RefreshedTokens, Refresher } from '../core/ports.js';

export interface OAuthRefresherOptions {
  /** The authorization server's token endpoint. */
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
   * The server's issuer identifier; checked only when a refresh returns an `id_token`.
   * @default the token endpoint's origin
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
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

function responseOf(error: unknown): Response | undefined {
  const candidate = (error as { response?: unknown; cause?: unknown }) ?? {};
  if (candidate.response instanceof Response) return candidate.response;
  if (candidate.cause instanceof Response) return candidate.cause;
  return undefined;
}

function httpFailure(status: number, oauthError: string | undefined, response: Response | undefined): RefreshError {
  return new RefreshError({
    kind: classifyTokenFailure(status, oauthError),
    reason: oauthError ?? `HTTP_${status}`,
    status,
    retryAfterMs: parseRetryAfter(response?.headers.get('retry-after')),
  });
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
      return new RefreshError({ kind: 'permanent', reason: 'INSECURE_ENDPOINT' }, 'The token endpoint must use https: (set allowInsecureRequests only for local development).');
    }
    return new InvalidTokenResponseError(error.message, status);
  }
  if (error instanceof oauth.UnsupportedOperationError) return new InvalidTokenResponseError(error.message, status);
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
  let endpoint: URL;
  try {
    endpoint = new URL(options.tokenEndpoint);
  } catch {
    throw new InvalidOptionsError(`tokenEndpoint "${String(options.tokenEndpoint)}" is not a URL.`);
  }
  if (!options.clientId) throw new InvalidOptionsError('clientId is required.');
  const as: oauth.AuthorizationServer = {
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

  return async (refreshToken, { signal }): Promise<RefreshedTokens> => {
    let status: number | undefined;
    try {
      const response = await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, {
        signal,
        headers: options.headers,
        additionalParameters: extra,
        [oauth.allowInsecureRequests]: insecure,
        [oauth.customFetch]: (url, init) => baseFetch(url, init as RequestInit),
      });
      status = response.status;
      const result = await oauth.processRefreshTokenResponse(as, client, response);
      if (typeof result.expires_in === 'number' && result.expires_in < 0) {
        throw new InvalidTokenResponseError('"expires_in" is negative', status);
      }
      return {
        accessToken: result.access_token,
        refreshToken: result.refresh_token,
        expiresIn: result.expires_in,
      };
    } catch (error) {
      if (error instanceof RefreshError) throw error;
      if (signal.aborted) throw signal.reason;
      throw toRefreshFailure(error, status);
    }
  };
}
