/** `authchart/axios`: interceptors that attach the token, share one refresh, and replay once. */
export { attachAuth } from './interceptors.js';
export type { AuthAxios, AuthAxiosOptions } from './interceptors.js';
export { SentRequest } from './redact.js';
