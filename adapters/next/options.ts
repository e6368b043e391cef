import type { AllowedOrigins } from '../core/origins.js';
import type { SessionCookieOptions } from '../server/cookies.js';
import type { SharedRotationCache } from '../server/rotation-cache.js';
import type { SessionManager } from '../server/session-manager.js';
import type { TokenCookieOptions } from '../server/token-cookie.js';

/**
 * A value, or a function that makes it (once per process; it may be async, e.g. to
 * connect a Redis client first).
 */
export type Lazy<T> = T | (() => T | Promise<T>);

/**
 * Tokens on the server, a random session id in the cookie. Tokens never reach the
 * browser; rotation writes nothing to the cookie, so Server Components refresh like any
 * other context. Needs a server store: memory for one instance, Redis for several.
 * @example
 * { type: 'session', sessions: () => createSessionManager({ refresh, store: memoryStores() }) }
 */
export interface SessionStorageOptions {
  type: 'session';
  /**
   * The session manager: `createSessionManager({ refresh, store: memoryStores() })` from
   * `authchart/server` for one instance, `redisSessionManager(...)` from `authchart/redis`
   * for several. Prefer a function: it runs once per process, whereas Next.js evaluates
   * your module once per bundle (proxy, route handlers, pages).
   */
  sessions: Lazy<SessionManager>;
  /**
   * The session id cookie.
   * @default { name: 'authchart.sid', path: '/', sameSite: 'lax', secure: true, maxAgeSeconds: 2592000 }
   */
  cookie?: SessionCookieOptions;
}

/**
 * Tokens in the browser, sealed (AES-256-GCM) in an httpOnly cookie; no server store.
 * Each rotation's result is shared for `resultTtlMs` under a keyed hash of the refresh
 * token it spent, so the parallel requests that carry the old cookie all get the new one.
 * Server Components cannot set cookies: see the docs for what happens there.
 * @example
 * { type: 'cookie', secret: process.env.AUTH_SECRET!, refresh, shared: () => redisRotationCache({ client, subscriber }) }
 */
export interface TokenCookieStorageOptions extends Omit<TokenCookieOptions, 'shared'> {
  type: 'cookie';
  /**
   * Where rotation results and the rotation lock are shared between instances:
   * `redisRotationCache(...)` from `authchart/redis`. Required with several instances.
   * @default undefined (this process only)
   */
  shared?: Lazy<SharedRotationCache>;
  /**
   * The token cookie.
   * @default { name: 'authchart.tokens', path: '/', sameSite: 'lax', secure: true, maxAgeSeconds: 2592000 }
   */
  cookie?: SessionCookieOptions;
}

/**
 * Options of {@link createNextAuth}.
 * @example
 * createNextAuth({ storage: { type: 'session', sessions: () => redisSessionManager({ client, subscriber, refresh }) }, allowedOrigins: ['https://api.example.com'] })
 */
export interface NextAuthOptions {
  /**
   * Names this configuration in the process. Next.js loads `proxy.ts`, route handlers and
   * pages as separate module graphs; authchart keeps one state per `id` on `globalThis`
   * so they all share one session manager (the first graph's options are used).
   * @default 'default'
   */
  id?: string;
  /** Where tokens live: `{ type: 'session', … }` or `{ type: 'cookie', … }`. */
  storage: SessionStorageOptions | TokenCookieStorageOptions;
  /**
   * Origins `auth.fetch` may send the access token to.
   * @default none (`auth.fetch` refuses to run until you list them)
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * `Retry-After` of a 503 when the failure did not carry the token endpoint's own.
   * @default 1
   */
  retryAfterSeconds?: number;
}
