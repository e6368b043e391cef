/**
 * `authchart/urql`: a urql exchange that sends every operation with the session's token
 * and replays, once, an operation the server refused for its token (HTTP 401, or HTTP 200
 * with an `UNAUTHENTICATED` GraphQL error) after the one shared refresh. Needs
 * `@urql/core` 6 (`urql`, `@urql/vue`, `@urql/svelte` bring it).
 */
export { authExchange, isUnauthenticated } from './auth-exchange.js';
export type { AuthExchangeOptions } from './auth-exchange.js';
export type { SessionSource } from '../bindings/source.js';
