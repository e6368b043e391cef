import type { Refresher } from '../core/ports.js';
import { defaultFetch, failureFrom, readTokenAnswer } from './http.js';

export interface JsonRefresherOptions {
  /** The refresh endpoint, e.g. `/api/token/refresh/` (Django SimpleJWT) or `/auth/refresh` (FastAPI). */
  url: string | URL;
  /**
   * Body field that carries the refresh token.
   * @default 'refresh'
   */
  requestField?: string;
  /**
   * Answer field with the new access token.
   * @default 'access'
   */
  accessTokenField?: string;
  /**
   * Answer field with the rotated refresh token (kept from before when absent).
   * @default 'refresh'
   */
  refreshTokenField?: string;
  /**
   * Answer field with the access token's lifetime in seconds; without it the JWT `exp` claim is used.
   * @default 'expires_in'
   */
  expiresInField?: string;
  /** Extra JSON body fields. */
  body?: Record<string, unknown>;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Send cookies (for refresh endpoints that also read one). */
  credentials?: RequestCredentials;
  /** @default 'POST' */
  method?: 'POST' | 'PUT';
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * A JSON refresh endpoint, as many app backends have. The defaults fit Django REST
 * framework SimpleJWT (`POST /api/token/refresh/` `{ refresh }` → `{ access, refresh }`,
 * with rotation and blacklisting); set the field names for others, e.g. FastAPI-style
 * `POST /auth/refresh` `{ refresh_token }` → `{ access_token, refresh_token }`.
 * 400, 401 and 403 are permanent (SimpleJWT answers 401 `token_not_valid` for a
 * blacklisted token); 408, 429 and 5xx transient.
 * @example
 * const refresh = jsonRefresher({ url: '/api/token/refresh/' })
 * const fastapi = jsonRefresher({ url: '/auth/refresh', requestField: 'refresh_token', accessTokenField: 'access_token', refreshTokenField: 'refresh_token' })
 */
export function jsonRefresher(options: JsonRefresherOptions): Refresher {
  const requestField = options.requestField ?? 'refresh';
  const accessField = options.accessTokenField ?? 'access';
  const refreshField = options.refreshTokenField ?? 'refresh';
  const expiresInField = options.expiresInField ?? 'expires_in';
  const baseFetch = options.fetch ?? defaultFetch;
  return async (refreshToken, { signal }) => {
    const response = await baseFetch(options.url, {
      method: options.method ?? 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...options.headers },
      body: JSON.stringify({ ...options.body, [requestField]: refreshToken }),
      credentials: options.credentials,
      signal,
    });
    if (!response.ok) throw await failureFrom(response);
    return readTokenAnswer(response, { accessToken: accessField, refreshToken: refreshField, expiresIn: expiresInField });
  };
}
