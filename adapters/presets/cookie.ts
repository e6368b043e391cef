import type { Refresher } from '../core/ports.js';
import { defaultFetch, failureFrom, readTokenAnswer } from './http.js';

const NO_FIELD = '\u0000authchart: the refresh token is a cookie';

export interface CookieRefresherOptions {
  /**
   * The refresh endpoint that reads the httpOnly refresh cookie. Required.
   * @example url: '/auth/refresh'
   */
  url: string | URL;
  /**
   * @default 'POST'
   * @example method: 'GET'
   */
  method?: 'POST' | 'PUT' | 'GET';
  /**
   * Extra request headers: the CSRF header your endpoint wants (a cookie the server checks
   * on its own is sent by the browser), an API version…
   * @default {}
   * @example { 'x-csrf-token': readCsrfCookie() }
   */
  headers?: Record<string, string>;
  /**
   * A JSON body to send, if the endpoint wants one (a device id); none by default.
   * @default undefined
   * @example body: { deviceId }
   */
  body?: Record<string, unknown>;
  /**
   * Answer field with the new access token.
   * @default 'access_token'
   * @example accessTokenField: 'accessToken'
   */
  accessTokenField?: string;
  /**
   * Answer field with the access token's lifetime in seconds; without it the JWT `exp` claim is used.
   * @default 'expires_in'
   * @example expiresInField: 'expiresIn'
   */
  expiresInField?: string;
  /**
   * Whether the browser sends (and stores) cookies: `include` for an endpoint on another
   * origin (it must answer with `Access-Control-Allow-Credentials: true` and its exact
   * origin), `same-origin` when the app and the endpoint share one.
   * @default 'include'
   * @example credentials: 'same-origin'
   */
  credentials?: RequestCredentials;
  /**
   * The fetch to use.
   * @default globalThis.fetch
   * @example fetch: (input, init) => tauriFetch(input, init)
   */
  fetch?: typeof fetch;
}

/**
 * A refresh endpoint whose refresh token is an httpOnly cookie that JavaScript never sees:
 * the browser sends it (`credentials: 'include'`) and stores the rotated one from
 * `Set-Cookie`. Use it with `refreshTokenIn: 'cookie'`; the session's single flight, queue,
 * backoff and logout rules are unchanged, and with `authchart/cross-tab` one tab refreshes
 * for all (several tabs presenting one rotating cookie is the same race as with a stored
 * refresh token). A refresh token in the answer's body is ignored: it would put in
 * JavaScript's reach what the cookie keeps out of it.
 *
 * 400, 401 and 403 are permanent (an endpoint answers 401 when the cookie is missing,
 * expired or revoked); 408, 429 and 5xx transient. Only short code fields of an error
 * answer are kept, never its body.
 * @example
 * const authFetch = createAuthFetch({
 *   refresh: cookieRefresher({ url: '/auth/refresh', headers: { 'x-requested-with': 'fetch' } }),
 *   refreshTokenIn: 'cookie',
 *   ...crossTab({ name: 'myapp' }),
 * })
 * const { access_token, expires_in } = await fetch('/auth/login', { method: 'POST', body, credentials: 'include' }).then((r) => r.json())
 * await authFetch.login({ accessToken: access_token, expiresAt: Date.now() + expires_in * 1000 })
 */
export function cookieRefresher(options: CookieRefresherOptions): Refresher {
  const accessField = options.accessTokenField ?? 'access_token';
  const expiresInField = options.expiresInField ?? 'expires_in';
  const baseFetch = options.fetch ?? defaultFetch;
  return async (_refreshToken, { signal }) => {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.body) headers['content-type'] = 'application/json';
    const response = await baseFetch(options.url, {
      method: options.method ?? 'POST',
      headers,
      body: options.body ? JSON.stringify(options.body) : undefined,
      credentials: options.credentials ?? 'include',
      signal,
    });
    if (!response.ok) throw await failureFrom(response);
    // A field no answer has: a refresh token in the body is never read, not even when the
    // rest of the answer is refused (a refused answer's rotated tokens are kept, R11).
    return readTokenAnswer(response, { accessToken: accessField, refreshToken: NO_FIELD, expiresIn: expiresInField });
  };
}
