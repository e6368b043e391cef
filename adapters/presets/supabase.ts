import type { Refresher } from '../core/ports.js';
import { defaultFetch, failureFrom, readTokenAnswer } from './http.js';

export interface SupabaseRefresherOptions {
  /** The project URL, e.g. `https://xyzcompany.supabase.co`. */
  url: string;
  /** The project's anon (publishable) key, sent as the `apikey` header. */
  apiKey: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * Supabase Auth (GoTrue): `POST {url}/auth/v1/token?grant_type=refresh_token` with a JSON
 * body `{ refresh_token }` and the `apikey` header. The answer's `expires_at` (seconds)
 * sets the expiry. Errors such as `refresh_token_not_found`, `refresh_token_already_used`
 * or `session_not_found` (400) are permanent; `over_request_rate_limit` (429) transient.
 *
 * supabase-js refreshes on its own too; two refreshers race. Leave authchart the only one:
 * `createClient(url, key, { auth: { autoRefreshToken: false, persistSession: false } })`,
 * or give supabase-js authchart's token with its `accessToken` option.
 * @example
 * const refresh = supabaseRefresher({ url: 'https://xyzcompany.supabase.co', apiKey: SUPABASE_ANON_KEY })
 */
export function supabaseRefresher(options: SupabaseRefresherOptions): Refresher {
  const endpoint = `${options.url.replace(/\/+$/, '')}/auth/v1/token?grant_type=refresh_token`;
  const baseFetch = options.fetch ?? defaultFetch;
  return async (refreshToken, { signal }) => {
    const response = await baseFetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: options.apiKey, authorization: `Bearer ${options.apiKey}` },
      body: JSON.stringify({ refresh_token: refreshToken }),
      signal,
    });
    if (!response.ok) throw await failureFrom(response);
    return readTokenAnswer(response, {
      accessToken: 'access_token',
      refreshToken: 'refresh_token',
      refreshTokenRequired: true,
      expiresIn: 'expires_in',
      expiresAt: 'expires_at',
    });
  };
}
