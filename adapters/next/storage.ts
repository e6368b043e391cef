/**
 * The two storages behind `createNextAuth`, over a cookie jar (Next.js' `cookies()`, or a
 * proxy's request and response), and the process-wide registry that lets every module
 * graph of a Next.js app share them.
 */
import { InvalidOptionsError, isAuthchartError, UnauthorizedAfterRefreshError } from '../core/errors.js';
import type { TokenSet } from '../core/ports.js';
import { createAuthFetch } from '../fetch/auth-fetch.js';
import { noPage, originPolicy, type AllowedOrigins } from '../core/origins.js';
import { cookieAttributes, newSessionId, resolveCookieOptions, type ResolvedCookieOptions } from '../server/cookies.js';
import { NotSignedInError } from '../server/http-errors.js';
import type { SessionManager } from '../server/session-manager.js';
import { createTokenCookieCore, type TokenCookieCore } from '../server/token-cookie.js';
import type { Lazy, NextAuthOptions } from './options.js';

/** A cookie jar: what a request carries, and where a response's cookies go. */
export interface Jar {
  get(name: string): string | undefined;
  /** Throws where cookies cannot be written (a Server Component). */
  set(name: string, value: string, attributes: ReturnType<typeof cookieAttributes>): void;
}

export type Fetcher = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** One storage, as the helpers use it. */
export interface Storage {
  readonly type: 'session' | 'cookie';
  readonly cookie: ResolvedCookieOptions;
  /** The request's valid access token; rotated cookies are written to `jar` when it can. */
  accessToken(jar: Jar, signal?: AbortSignal): Promise<string>;
  /** `fetch` with the request's token attached to `allowed` origins (and, with server sessions, replayed once after a 401). */
  fetcher(jar: Jar, allowed: AllowedOrigins | undefined): Fetcher;
  login(jar: Jar, tokens: TokenSet): Promise<void>;
  logout(jar: Jar): Promise<void>;
  /**
   * For a proxy: valid tokens for the cookie value it saw. `cookie` is the value the
   * request and the browser should carry from now on (undefined: unchanged; null: delete).
   */
  refreshForProxy(value: string | undefined, signal?: AbortSignal): Promise<{ cookie?: string | null }>;
}

const resolveLazy = async <T>(value: Lazy<T>, isValue: (v: unknown) => boolean): Promise<T> =>
  isValue(value) ? (value as T) : await (value as () => T | Promise<T>)();

const isSessionManager = (value: unknown) => typeof value === 'object' && value !== null && typeof (value as SessionManager).getValidAccessToken === 'function';

/** Write a cookie where the context allows it; a Server Component cannot, and says so by throwing. */
function tryWrite(jar: Jar, name: string, value: string, attributes: ReturnType<typeof cookieAttributes>): boolean {
  try {
    jar.set(name, value, attributes);
    return true;
  } catch {
    return false;
  }
}

function deleteCookie(jar: Jar, cookie: ResolvedCookieOptions): void {
  const { maxAge: _unused, ...attributes } = cookieAttributes(cookie);
  tryWrite(jar, cookie.name, '', { ...attributes, maxAge: 0 });
}

async function sessionStorage(options: Extract<NextAuthOptions['storage'], { type: 'session' }>): Promise<Storage> {
  const sessions = await resolveLazy(options.sessions, isSessionManager);
  if (!isSessionManager(sessions))
    throw new InvalidOptionsError('storage.sessions must be a session manager (createSessionManager, redisSessionManager) or a function that returns one.');
  const cookie = resolveCookieOptions(options.cookie, 'authchart.sid');
  const sessionIdOf = (jar: Jar) => {
    const id = jar.get(cookie.name);
    if (!id) throw new NotSignedInError();
    return id;
  };
  return {
    type: 'session',
    cookie,
    accessToken: (jar, signal) => sessions.getValidAccessToken(sessionIdOf(jar), { signal }),
    fetcher: (jar, allowed) => async (input, init) => {
      const sessionId = sessionIdOf(jar);
      return sessions.withSession(sessionId, (session) => createAuthFetch({ session, allowedOrigins: allowed })(input, init));
    },
    async login(jar, tokens) {
      const previous = jar.get(cookie.name);
      const sessionId = newSessionId();
      await sessions.login(sessionId, tokens);
      jar.set(cookie.name, sessionId, cookieAttributes(cookie));
      // A new id at every sign-in (no session fixation); the old session ends.
      if (previous) await sessions.logout(previous).catch(() => undefined);
    },
    async logout(jar) {
      const sessionId = jar.get(cookie.name);
      if (sessionId) await sessions.logout(sessionId);
      deleteCookie(jar, cookie);
    },
    // Tokens live on the server: the proxy has nothing to carry.
    refreshForProxy: async () => ({}),
  };
}

async function cookieStorage(options: Extract<NextAuthOptions['storage'], { type: 'cookie' }>): Promise<Storage> {
  const shared = options.shared === undefined ? undefined : await resolveLazy(options.shared, (v) => typeof v === 'object' && v !== null);
  const core: TokenCookieCore = createTokenCookieCore({ ...options, shared });
  const cookie = resolveCookieOptions(options.cookie, 'authchart.tokens');
  const attributes = cookieAttributes(cookie);

  const tokensOf = async (jar: Jar, signal?: AbortSignal): Promise<TokenSet> => {
    const value = jar.get(cookie.name);
    if (!value) throw new NotSignedInError();
    try {
      const resolved = await core.resolve(value, { signal });
      if (!resolved) {
        deleteCookie(jar, cookie);
        throw new NotSignedInError();
      }
      // In a Server Component this fails: the result stays in the rotation cache for
      // `resultTtlMs`, and the next request that can write cookies (the proxy, a route
      // handler, a server action) gets it with the old cookie and writes it.
      if (resolved.cookie) tryWrite(jar, cookie.name, resolved.cookie, attributes);
      return resolved.tokens;
    } catch (error) {
      if (isAuthchartError(error, 'SESSION_EXPIRED')) deleteCookie(jar, cookie);
      throw error;
    }
  };

  return {
    type: 'cookie',
    cookie,
    accessToken: async (jar, signal) => (await tokensOf(jar, signal)).accessToken,
    fetcher(jar, allowed) {
      const policy = originPolicy(allowed, noPage);
      return async (input, init) => {
        const request = new Request(input, init);
        if (policy.target(request.url) === null) return fetch(request);
        const send = (accessToken: string, source: Request) => {
          const headers = new Headers(source.headers);
          headers.set('authorization', `Bearer ${accessToken}`);
          return fetch(new Request(source, { headers }));
        };
        const tokens = await tokensOf(jar, request.signal);
        // Kept for the replay; a body is buffered by the tee.
        const spare = request.body ? request.clone() : request;
        const response = await send(tokens.accessToken, request);
        if (response.status !== 401) return response;
        // One rotation however many requests got the 401, then one replay (R3 and R7).
        response.body?.cancel().catch(() => undefined);
        const rotated = await core.unauthorized(tokens, { signal: request.signal });
        tryWrite(jar, cookie.name, rotated.cookie!, attributes);
        const replayed = await send(rotated.tokens.accessToken, spare);
        if (replayed.status === 401) throw new UnauthorizedAfterRefreshError(replayed);
        return replayed;
      };
    },
    async login(jar, tokens) {
      jar.set(cookie.name, await core.seal(tokens), attributes);
    },
    async logout(jar) {
      deleteCookie(jar, cookie);
    },
    async refreshForProxy(value, signal) {
      if (!value) return {};
      try {
        const resolved = await core.resolve(value, { signal });
        if (!resolved) return { cookie: null };
        return resolved.cookie ? { cookie: resolved.cookie } : {};
      } catch (error) {
        if (isAuthchartError(error, 'SESSION_EXPIRED')) return { cookie: null };
        // Unavailable now: the request goes on with its cookie and the route answers 503.
        return {};
      }
    },
  };
}

const REGISTRY = Symbol.for('authchart.next.storages');

/**
 * The storage of `options.id`, made once per process. Next.js evaluates a module once per
 * bundle (proxy, each route), so module scope is not one place; `globalThis` is.
 */
export function storageFor(options: NextAuthOptions): Promise<Storage> {
  const id = options.id ?? 'default';
  const global = globalThis as unknown as Record<symbol, Map<string, Promise<Storage>> | undefined>;
  global[REGISTRY] ??= new Map();
  const registry = global[REGISTRY];
  let storage = registry.get(id);
  if (!storage) {
    const kind = options.storage?.type;
    if (kind !== 'session' && kind !== 'cookie')
      throw new InvalidOptionsError('storage.type must be "session" (tokens on the server) or "cookie" (tokens sealed in a cookie).');
    storage =
      kind === 'session'
        ? sessionStorage(options.storage as Extract<NextAuthOptions['storage'], { type: 'session' }>)
        : cookieStorage(options.storage as Extract<NextAuthOptions['storage'], { type: 'cookie' }>);
    registry.set(id, storage);
    // A failed start (Redis not reachable) is not kept: the next request tries again.
    storage.catch(() => {
      if (registry.get(id) === storage) registry.delete(id);
    });
  }
  return storage;
}
