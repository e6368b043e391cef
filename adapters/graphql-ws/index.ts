/**
 * `authchart/graphql-ws`: subscriptions over graphql-ws whose connection carries the
 * session's token and is reopened with the new one after every refresh. Needs
 * `graphql-ws` 6 (only its types are used: nothing of it is loaded from here).
 */
export { withAuth, RESTART_CLOSE_CODE } from './with-auth.js';
export type { GraphqlWsAuthOptions, CloseEventLike } from './with-auth.js';
export type { SessionSource } from '../bindings/source.js';
