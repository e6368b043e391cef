/** `authchart/oauth`: the OAuth 2.0 refresh-token grant (RFC 6749 §6) as a refresher. */
export { oauthRefresher } from './refresher.js';
export type { OAuthRefresherOptions } from './refresher.js';
