/** `authchart/fetch`: a `fetch` that attaches the token, shares one refresh, and replays once. */
export { createAuthFetch } from './auth-fetch.js';
export type { AuthFetch, AuthFetchOptions } from './auth-fetch.js';
export type { AllowedOrigins } from '../core/origins.js';
