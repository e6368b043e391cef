/**
 * `authchart/presets`: refreshers for common backends. The generic OAuth 2.0 one is
 * `oauthRefresher` from `authchart/oauth`.
 */
export { cookieRefresher } from './cookie.js';
export type { CookieRefresherOptions } from './cookie.js';
export { jsonRefresher } from './json.js';
export type { JsonRefresherOptions } from './json.js';
export { spotifyRefresher } from './spotify.js';
export type { SpotifyRefresherOptions } from './spotify.js';
export { supabaseRefresher } from './supabase.js';
export type { SupabaseRefresherOptions } from './supabase.js';
