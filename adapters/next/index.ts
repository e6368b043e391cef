/**
 * `authchart/next`: the Next.js App Router (16; 15 too). One helper for `proxy.ts`, route
 * handlers, server actions and Server Components that returns a valid access token for the
 * request, with one refresh however many of them run in parallel. Tokens live on the
 * server (a session id cookie) or sealed in an httpOnly cookie. `next` is an optional peer
 * reached only through this subpath.
 */
export { createNextAuth } from './auth.js';
export type { NextAuth, NextBffOptions, RouteHandler } from './auth.js';
export type { NextAuthOptions, SessionStorageOptions, TokenCookieStorageOptions, Lazy } from './options.js';
export { memoryStores } from '../server/memory-stores.js';
export { createSessionManager } from '../server/session-manager.js';
export { NotSignedInError, httpFailureOf } from '../server/http-errors.js';
export type { SessionCookieOptions } from '../server/cookies.js';
export type { SharedRotationCache } from '../server/rotation-cache.js';
export type { BffOptions, CsrfOptions } from '../server/bff.js';
