import { cookies } from 'next/headers.js';
import { NextResponse, type NextRequest } from 'next/server.js';
import type { TokenSet } from '../core/ports.js';
import { csrfFailure, forward, isHttpFailure, resolveBff, returnedHeaders, type BffOptions, type ResolvedBff } from '../server/bff.js';
import { cookieAttributes } from '../server/cookies.js';
import { failure, httpFailureOf, type HttpFailure } from '../server/http-errors.js';
import type { NextAuthOptions } from './options.js';
import { storageFor, type Fetcher, type Jar } from './storage.js';

/** Options of {@link NextAuth.bff}: a backend-for-frontend route handler. */
export interface NextBffOptions extends BffOptions {
  /**
   * The path the route handler is mounted at (its folder), removed before forwarding:
   * `app/api/bff/[...path]/route.ts` → `'/api/bff'`.
   */
  mount: string;
}

/** A route handler as Next.js calls it. */
export type RouteHandler<Context> = (request: Request, context: Context) => Response | Promise<Response>;

export interface NextAuth {
  /**
   * A valid access token for the current request, in a route handler, a server action or a
   * Server Component. Refreshes once however many of them run in parallel, and writes
   * rotated tokens back where they live (the server store; or the cookie, where the
   * context can set cookies). Rejects with `SESSION_EXPIRED` (`NotSignedInError` when the
   * request carries no session), or with `REFRESH_UNAVAILABLE` / `REDIS_UNAVAILABLE` / …
   * when it cannot refresh now.
   * @example
   * const token = await auth.getAccessToken()
   * const orders = await fetch('https://api.example.com/orders', { headers: { authorization: `Bearer ${token}` } })
   */
  getAccessToken(options?: { signal?: AbortSignal }): Promise<string>;
  /**
   * `fetch` with the request's access token attached (to `allowedOrigins` only). With the
   * session storage, a 401 is replayed once after one shared refresh.
   * @example
   * const me = await auth.fetch('https://api.example.com/me').then((r) => r.json())
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** Whether the request carries a session (its cookie), without refreshing anything. */
  isSignedIn(): Promise<boolean>;
  /**
   * Sign in (a route handler or a server action): store the tokens and set the cookie.
   * @example
   * 'use server'
   * export async function signIn(form: FormData) { await auth.login(await passwordGrant(form)); redirect('/') }
   */
  login(tokens: TokenSet): Promise<void>;
  /** Sign out (a route handler or a server action): end the session and delete the cookie. */
  logout(): Promise<void>;
  /**
   * For `proxy.ts` (`middleware.ts` on Next.js 15): with the cookie storage, rotates
   * tokens that expire within `leewayMs` before the page renders, sends the new cookie to
   * the browser and hands it to the render (Server Components then never rotate
   * themselves). With the session storage it passes the request on untouched.
   * @example
   * // proxy.ts
   * export function proxy(request: NextRequest) { return auth.proxy(request) }
   * export const config = { matcher: ['/((?!_next/static|_next/image|favicon.ico).*)'] }
   */
  proxy(request: NextRequest): Promise<NextResponse>;
  /**
   * Wrap a route handler: authchart's errors become typed JSON answers (401
   * `not_signed_in` / `session_expired`, 503 `unavailable` with `Retry-After`).
   * @example
   * export const GET = auth.route(async () => Response.json(await auth.fetch(`${API}/me`).then((r) => r.json())))
   */
  route<Context>(handler: RouteHandler<Context>): RouteHandler<Context>;
  /**
   * A backend-for-frontend route handler: `<mount>/<path>` is forwarded to
   * `<upstream>/<path>` with the bearer token, after the cross-site check.
   * @example
   * // app/api/bff/[...path]/route.ts
   * const handler = auth.bff({ upstream: 'https://api.example.com', mount: '/api/bff' })
   * export { handler as GET, handler as POST, handler as PUT, handler as PATCH, handler as DELETE }
   */
  bff(options: NextBffOptions): (request: Request) => Promise<Response>;
}

type NextCookieStore = Awaited<ReturnType<typeof cookies>>;

function jarOf(store: NextCookieStore): Jar {
  return {
    get: (name) => store.get(name)?.value,
    set: (name, value, attributes) => {
      store.set(name, value, attributes);
    },
  };
}

const requestJar = async (): Promise<Jar> => jarOf(await cookies());

function toResponse(answer: HttpFailure): Response {
  return new Response(JSON.stringify(answer.body), { status: answer.status, headers: answer.headers });
}

/** Replace one cookie in a `Cookie` header (or remove it with null). */
function withCookie(header: string | null, name: string, value: string | null): string {
  const others = (header ?? '')
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part !== '' && part.slice(0, part.indexOf('=')).trim() !== name);
  if (value !== null) others.push(`${name}=${value}`);
  return others.join('; ');
}

async function boundedBody(request: Request, bff: ResolvedBff): Promise<Uint8Array | null | undefined> {
  const method = request.method.toUpperCase();
  if (method === 'GET' || method === 'HEAD' || !request.body) return undefined;
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > bff.maxBodyBytes) return null;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > bff.maxBodyBytes) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/**
 * authchart for the Next.js App Router (16; 15 too): one helper for `proxy.ts`, route
 * handlers, server actions and Server Components that returns a valid access token for
 * the request, refreshing once however many of them run in parallel (and, with Redis,
 * however many instances), and writes rotated tokens back where they live.
 * @example
 * // lib/auth.ts
 * import { createNextAuth } from 'authchart/next'
 * import { redisSessionManager } from 'authchart/redis'
 * import { oauthRefresher } from 'authchart/oauth'
 *
 * export const auth = createNextAuth({
 *   storage: {
 *     type: 'session',
 *     sessions: async () => {
 *       const client = await createClient({ url: process.env.REDIS_URL }).connect()
 *       const subscriber = await client.duplicate().connect()
 *       return redisSessionManager({ client, subscriber, refresh: oauthRefresher({ tokenEndpoint, clientId, clientSecret }) })
 *     },
 *   },
 *   allowedOrigins: ['https://api.example.com'],
 * })
 */
export function createNextAuth(options: NextAuthOptions): NextAuth {
  const storage = () => storageFor(options);
  const answer = (error: unknown): Response => {
    const mapped = httpFailureOf(error, { retryAfterSeconds: options.retryAfterSeconds });
    if (mapped) return toResponse(mapped);
    throw error;
  };

  return {
    async getAccessToken(callOptions) {
      return (await storage()).accessToken(await requestJar(), callOptions?.signal);
    },
    async fetch(input, init) {
      return (await storage()).fetcher(await requestJar(), options.allowedOrigins)(input, init);
    },
    async isSignedIn() {
      const [store, jar] = await Promise.all([storage(), requestJar()]);
      return Boolean(jar.get(store.cookie.name));
    },
    async login(tokens) {
      return (await storage()).login(await requestJar(), tokens);
    },
    async logout() {
      return (await storage()).logout(await requestJar());
    },
    async proxy(request) {
      let store: Awaited<ReturnType<typeof storage>>;
      try {
        store = await storage();
      } catch {
        // The storage cannot start now (Redis unreachable): the routes answer 503 themselves.
        return NextResponse.next();
      }
      const presented = request.cookies.get(store.cookie.name)?.value;
      if (!presented) return NextResponse.next();
      const { cookie } = await store.refreshForProxy(presented, request.signal);
      if (cookie === undefined) return NextResponse.next();
      // The render behind the proxy reads the new cookie; the browser gets it too.
      const headers = new Headers(request.headers);
      headers.set('cookie', withCookie(request.headers.get('cookie'), store.cookie.name, cookie === null ? null : encodeURIComponent(cookie)));
      const response = NextResponse.next({ request: { headers } });
      const attributes = cookieAttributes(store.cookie);
      if (cookie === null) response.cookies.set(store.cookie.name, '', { ...attributes, maxAge: 0 });
      else response.cookies.set(store.cookie.name, cookie, attributes);
      return response;
    },
    route(handler) {
      return async (request, context) => {
        try {
          return await handler(request, context);
        } catch (error) {
          return answer(error);
        }
      };
    },
    bff(bffOptions) {
      const bff = resolveBff(bffOptions);
      const mount = bffOptions.mount.replace(/\/+$/, '');
      const allowed = [bff.base.origin];
      return async (request) => {
        const url = new URL(request.url);
        const header = (name: string) => request.headers.get(name) ?? undefined;
        const refused = csrfFailure(bff, request.method, header, url.origin);
        if (refused) return toResponse(refused);
        if (!url.pathname.startsWith(mount)) return toResponse(failure(400, { error: 'bad_request' }));
        try {
          const store = await storage();
          const jar = await requestJar();
          // Resolve first: a request without a session gets 401 before its body is read.
          await store.accessToken(jar, request.signal);
          const body = await boundedBody(request, bff);
          if (body === null) return toResponse(failure(413, { error: 'bad_request' }));
          const fetcher: Fetcher = store.fetcher(jar, allowed);
          const result = await forward(
            bff,
            { method: request.method, path: url.pathname.slice(mount.length) + url.search, header, body, signal: request.signal },
            (target, init) => fetcher(target, init),
          );
          if (isHttpFailure(result)) return toResponse(result);
          const status = result.status;
          const nullBody = request.method === 'HEAD' || status === 204 || status === 304;
          if (nullBody) await result.body?.cancel().catch(() => undefined);
          return new Response(nullBody ? null : result.body, { status, headers: returnedHeaders(bff, result) });
        } catch (error) {
          return answer(error);
        }
      };
    },
  };
}
