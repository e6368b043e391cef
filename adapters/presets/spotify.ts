import type { Refresher } from '../core/ports.js';
import { oauthRefresher } from '../oauth/refresher.js';

export interface SpotifyRefresherOptions {
  /** Your Spotify app's client id. */
  clientId: string;
  /** The client secret, for the authorization-code flow on a server. Leave it out for PKCE (public clients). */
  clientSecret?: string;
  /** @default 'https://accounts.spotify.com/api/token' */
  tokenEndpoint?: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * Spotify's token endpoint: the OAuth refresh-token grant as a form body, with Basic client
 * authentication when there is a secret, or as a PKCE public client (client_id in the
 * body) without. Spotify may leave `refresh_token` out of the answer: the old one is then
 * kept. `invalid_grant` ("Refresh token revoked") is permanent.
 * @example
 * const refresh = spotifyRefresher({ clientId: import.meta.env.VITE_SPOTIFY_CLIENT_ID })
 */
export function spotifyRefresher(options: SpotifyRefresherOptions): Refresher {
  return oauthRefresher({
    tokenEndpoint: options.tokenEndpoint ?? 'https://accounts.spotify.com/api/token',
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    clientAuthentication: options.clientSecret ? 'client_secret_basic' : 'none',
    fetch: options.fetch,
  });
}
