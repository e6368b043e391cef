/**
 * What the Express and Fastify integrations share: the session id cookie, one request's
 * token from the session manager, and the answers when there is none.
 */
import type { IncomingMessage } from 'node:http';
import { InvalidOptionsError } from '../core/errors.js';
import type { TokenSet } from '../core/ports.js';
import { createAuthFetch } from '../fetch/auth-fetch.js';
import type { AllowedOrigins } from '../core/origins.js';
import { newSessionId, readCookie, resolveCookieOptions, serializeCookie, type ResolvedCookieOptions, type SessionCookieOptions } from './cookies.js';
import { httpFailureOf, notSignedIn, type HttpFailure } from './http-errors.js';
import type { SessionManager } from './session-manager.js';

/**
 * Options of `expressAuth` and `fastifyAuth`.
 * @example
 * { sessions: redisSessionManager({ client, subscriber, refresh }), allowedOrigins: ['https://api.example.com'] }
 */
export interface ServerAuthOptions {
  /** The session manager: `createSessionManager(...)`, or `redisSessionManager(...)` from `authchart/redis` for several instances. */
  sessions: SessionManager;
  /**
   * The session id cookie that `login` sets and the middleware reads.
   * @default { name: 'authchart.sid', path: '/', sameSite: 'lax', secure: true, maxAgeSeconds: 2592000 }
   */
  cookie?: SessionCookieOptions;
  /**
   * Where a request's session id comes from, when you keep your own sessions
   * (`express-session`, `@fastify/session`): return null or undefined when signed out.
   * @default (req) => the `cookie.name` cookie
   * @example
   * getSessionId: (req) => req.session?.id
   */
  getSessionId?: (req: IncomingMessage) => string | null | undefined;
  /**
   * Origins `request.authchart.fetch` may send the token to.
   * @default none (`fetch` refuses to run until you list them)
   * @example ['https://api.example.com']
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * `Retry-After` of a 503 when the failure did not carry the token endpoint's own.
   * @default 1
   */
  retryAfterSeconds?: number;
}

/** What the middleware puts on a request that has a session: `req.authchart` (Express), `request.authchart` (Fastify). */
export interface RequestAuth {
  /** The session's id. */
  readonly sessionId: string;
  /** An access token that was valid when the request arrived (refreshed first if it was not). */
  readonly accessToken: string;
  /** The session's valid access token now (for work that outlives `accessToken`). */
  getAccessToken(options?: { signal?: AbortSignal }): Promise<string>;
  /**
   * `fetch` with the bearer token attached (to `allowedOrigins` only), replayed once with
   * the refreshed token after a 401.
   * @example
   * const me = await req.authchart.fetch('https://api.example.com/me').then((r) => r.json())
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
}

export interface NodeAuth {
  readonly cookie: ResolvedCookieOptions;
  readonly sessions: SessionManager;
  sessionIdOf(req: IncomingMessage): string | undefined;
  /** The request's token, or the answer to send instead (401 / 503). Other errors are thrown. */
  resolve(req: IncomingMessage, signal?: AbortSignal): Promise<RequestAuth | HttpFailure>;
  /** Store a new sign-in under a new session id; returns the id and the `Set-Cookie` to send. */
  login(tokens: TokenSet): Promise<{ sessionId: string; setCookie: string }>;
  /** End the request's session (if any); returns the `Set-Cookie` that deletes the cookie. */
  logout(req: IncomingMessage): Promise<{ setCookie: string }>;
  /** `fetch` through one session, with these origins allowed. */
  fetchFor(sessionId: string, allowedOrigins: AllowedOrigins): (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
}

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * A request's auth, whose token stays out of logs: `accessToken` is not enumerable, and
 * `console.log(req.authchart)`, `util.inspect` and `JSON.stringify` show the session id only.
 */
function requestAuth(sessionId: string, accessToken: string, getAccessToken: RequestAuth['getAccessToken'], fetch: RequestAuth['fetch']): RequestAuth {
  const auth = { sessionId, getAccessToken, fetch } as RequestAuth & Record<symbol, unknown>;
  Object.defineProperty(auth, 'accessToken', { value: accessToken, enumerable: false });
  Object.defineProperty(auth, 'toJSON', { value: () => ({ sessionId }), enumerable: false });
  Object.defineProperty(auth, INSPECT, { value: () => `RequestAuth { sessionId: ${JSON.stringify(sessionId)}, accessToken: [redacted] }`, enumerable: false });
  return auth;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function createNodeAuth(options: ServerAuthOptions): NodeAuth {
  const sessions = options?.sessions;
  if (!sessions || typeof sessions.getValidAccessToken !== 'function')
    throw new InvalidOptionsError('Give `sessions`: createSessionManager(...) or redisSessionManager(...).');
  const cookie = resolveCookieOptions(options.cookie, 'authchart.sid');
  const retryAfterSeconds = options.retryAfterSeconds ?? 1;
  const sessionIdOf = (req: IncomingMessage): string | undefined => {
    const id = options.getSessionId ? options.getSessionId(req) : readCookie(firstHeader(req.headers.cookie), cookie.name);
    return typeof id === 'string' && id !== '' ? id : undefined;
  };
  const fetchFor = (sessionId: string, allowedOrigins: AllowedOrigins | undefined) => (input: string | URL | Request, init?: RequestInit) =>
    sessions.withSession(sessionId, (session) => createAuthFetch({ session, allowedOrigins })(input, init));

  return {
    cookie,
    sessions,
    sessionIdOf,
    async resolve(req, signal) {
      const sessionId = sessionIdOf(req);
      if (!sessionId) return notSignedIn();
      try {
        const accessToken = await sessions.getValidAccessToken(sessionId, { signal });
        return requestAuth(
          sessionId,
          accessToken,
          (callOptions) => sessions.getValidAccessToken(sessionId, callOptions),
          fetchFor(sessionId, options.allowedOrigins),
        );
      } catch (error) {
        const answer = httpFailureOf(error, { retryAfterSeconds });
        if (answer) return answer;
        throw error;
      }
    },
    async login(tokens) {
      const sessionId = newSessionId();
      await sessions.login(sessionId, tokens);
      return { sessionId, setCookie: serializeCookie(cookie, sessionId) };
    },
    async logout(req) {
      const sessionId = sessionIdOf(req);
      if (sessionId) await sessions.logout(sessionId);
      return { setCookie: serializeCookie(cookie, null) };
    },
    fetchFor,
  };
}

/** Whether `resolve` gave a token (rather than the answer to send). */
export function isRequestAuth(value: RequestAuth | HttpFailure): value is RequestAuth {
  return typeof (value as RequestAuth).accessToken === 'string';
}

/** The origin the browser used for this request (for the cross-site check). */
export function requestOrigin(protocol: string, host: string | undefined): string {
  return `${protocol.replace(/:$/, '')}://${host ?? 'localhost'}`;
}
