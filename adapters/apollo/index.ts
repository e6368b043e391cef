/**
 * `authchart/apollo`: an Apollo Client 4 link that sends every operation with the
 * session's token and replays, once, an operation the server refused for its token
 * (HTTP 401, or HTTP 200 with an `UNAUTHENTICATED` GraphQL error) after the one shared
 * refresh. Needs `@apollo/client` 4 and `rxjs` 7.
 */
export { authLink, isUnauthenticated } from './auth-link.js';
export type { AuthLinkOptions, UnauthorizedCheck } from './auth-link.js';
export type { SessionSource } from '../bindings/source.js';
