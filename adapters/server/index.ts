/**
 * `authchart/server`: server-side sessions (one statechart per user session, one refresh
 * per expiry across requests and, with `authchart/redis`, across instances), typed
 * middleware for Express 5 and a plugin for Fastify 5, and a backend-for-frontend proxy.
 * Neither express nor fastify is imported: both are optional peers.
 */
export { createSessionManager } from './session-manager.js';
export type { SessionManager, SessionManagerOptions, ManagedSessionOptions } from './session-manager.js';
export { memoryStores } from './memory-stores.js';
export type { MemoryStoresOptions } from './memory-stores.js';
export { expressAuth } from './express.js';
export type { ExpressAuth, ExpressMiddleware } from './express.js';
export { fastifyAuth } from './fastify.js';
export type { FastifyAuth, FastifyPluginLike, FastifyInstanceLike, FastifyRequestLike, FastifyReplyLike } from './fastify.js';
export type { ServerAuthOptions, RequestAuth } from './node-auth.js';
export type { SessionCookieOptions } from './cookies.js';
export type { BffOptions, CsrfOptions } from './bff.js';
export { httpFailureOf, NotSignedInError } from './http-errors.js';
export type { HttpFailure, ServerErrorBody, ServerErrorCode } from './http-errors.js';
export type { SharedRotationCache } from './rotation-cache.js';
