import { NonReplayableBodyError, UnauthorizedAfterRefreshError } from '../core/errors.js';
import { frontEndOf } from '../core/front-end.js';
import { createSession, sessionApi, type Session, type SessionApi, type SessionOptions } from '../core/session.js';
import type { Credential } from '../core/waiters.js';
import { originMatcher, pageBase, type AllowedOrigins } from './origins.js';

export interface AuthFetchOptions extends Partial<SessionOptions> {
  /** An existing session to share (with another front end, React, …). Otherwise one is created from these options. */
  session?: Session;
  /**
   * Origins that may receive the access token. Default: the page's own origin in a browser;
   * elsewhere required. Requests to any other origin are sent untouched.
   * @example ['https://api.example.com']
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * The fetch to wrap.
   * @default globalThis.fetch
   */
  fetch?: typeof fetch;
  /**
   * Whether a response means "the access token was refused".
   * @default (response) => response.status === 401
   */
  isUnauthorized?: (response: Response) => boolean;
  /**
   * Sees every response from an allowed origin before the caller does. Use it when a
   * server refreshes tokens itself and says so (an `X-Token-Refreshed` header, new tokens
   * in the body): hand them over with `updateTokens`, which stores them and releases any
   * waiting request without a token call; or call `refresh()`, which joins the refresh
   * under way instead of starting a second one. Read the body from `response.clone()`.
   * @example
   * onResponse: async (response, { updateTokens }) => {
   *   if (response.headers.get('x-token-refreshed')) {
   *     const { access_token, refresh_token } = await response.clone().json()
   *     await updateTokens({ accessToken: access_token, refreshToken: refresh_token })
   *   }
   * }
   */
  onResponse?: (response: Response, session: Pick<Session, 'updateTokens' | 'refresh'>) => void | Promise<void>;
}

/** `fetch` with the token attached, plus the session's API. */
export interface AuthFetch extends SessionApi {
  (input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
}

/** One attempt of a request, rebuilt from what the caller gave so it can be replayed. */
type Attempt = (authorization: string) => Promise<Response>;

function isRequest(value: unknown): value is Request {
  return typeof Request !== 'undefined' && value instanceof Request;
}

/**
 * Prepare a request for one or two attempts, or return null when the caller set its own
 * Authorization header (then it is sent untouched). `replayable` is false when the body is
 * a one-shot stream: it is sent once, and a 401 cannot be replayed.
 */
function prepare(
  baseFetch: typeof fetch,
  input: RequestInfo | URL,
  request: Request | undefined,
  init: RequestInit | undefined,
): { attempt: Attempt; replayable: boolean } | null {
  if (request) {
    if (request.headers.has('authorization') || (init?.headers && new Headers(init.headers).has('authorization'))) return null;
    // A Request (ky, openapi-fetch): keep a clone for the replay; its body is buffered by tee.
    const template = init ? new Request(request, init) : request;
    let spare: Request | undefined;
    return {
      replayable: true,
      attempt: (authorization) => {
        const source = spare ?? template;
        spare = template.body ? source.clone() : undefined;
        const headers = new Headers(source.headers);
        headers.set('authorization', authorization);
        return baseFetch(new Request(source, { headers }));
      },
    };
  }
  // Built once: the same object serves both attempts (fetch copies it; set() replaces the token).
  const headers = new Headers(init?.headers);
  if (headers.has('authorization')) return null;
  const replayable = !(typeof ReadableStream !== 'undefined' && init?.body instanceof ReadableStream);
  return {
    replayable,
    attempt: (authorization) => {
      headers.set('authorization', authorization);
      return baseFetch(input, { ...init, headers });
    },
  };
}

function targetUrl(input: RequestInfo | URL, request: Request | undefined): URL | null {
  try {
    return new URL(request ? request.url : input instanceof URL ? input.href : String(input), pageBase());
  } catch {
    return null;
  }
}

/**
 * The scheme and authority of an absolute http(s) URL string, e.g. `https://api.example.com:8443`.
 * In the WHATWG URL parser the authority ends at the first `/`, `?`, `#` or `\`, and what
 * follows never changes the host or port, so this prefix has the same origin as the whole URL.
 * An empty authority (`https:///host`, where the parser skips the extra slash) is not matched.
 */
const SCHEME_AND_AUTHORITY = /^https?:\/\/[^/?#\\]+/i;

/** Origins remembered by {@link allowedTargets}; a page talks to a handful. */
const MAX_REMEMBERED_ORIGINS = 64;

/**
 * Whether a request goes to an allowed origin. With a list of origins, absolute http(s)
 * URL strings are decided once per scheme and authority instead of parsing every URL (the
 * decision depends on the origin alone); everything else, and a predicate, sees the parsed URL.
 */
function allowedTargets(allowedOrigins: AllowedOrigins | undefined): (input: RequestInfo | URL, request: Request | undefined) => boolean {
  const allowed = originMatcher(allowedOrigins);
  const parsed = (input: RequestInfo | URL, request: Request | undefined) => {
    const url = targetUrl(input, request);
    return url !== null && allowed(url);
  };
  if (typeof allowedOrigins === 'function') return parsed;
  const byAuthority = new Map<string, boolean>();
  return (input, request) => {
    const authority = typeof input === 'string' ? SCHEME_AND_AUTHORITY.exec(input)?.[0] : undefined;
    if (authority === undefined) return parsed(input, request);
    let decision = byAuthority.get(authority);
    if (decision === undefined) {
      decision = parsed(authority, undefined);
      if (byAuthority.size >= MAX_REMEMBERED_ORIGINS) byAuthority.clear();
      byAuthority.set(authority, decision);
    }
    return decision;
  };
}

/** Free the connection of a response we will not read. Not awaited: cancelling can wait on the peer. */
function discard(response: Response): void {
  response.body?.cancel().catch(() => undefined);
}

/**
 * Create a `fetch` that attaches `Authorization: Bearer …` to allowed origins, turns a 401
 * into one shared refresh, and replays the request once with the new token.
 * @example
 * const authFetch = createAuthFetch({
 *   refresh: oauthRefresher({ tokenEndpoint: 'https://auth.example.com/oauth/token', clientId: 'web' }),
 *   allowedOrigins: ['https://api.example.com'],
 * })
 * await authFetch.login({ accessToken, refreshToken })
 * const me = await authFetch('https://api.example.com/me').then((r) => r.json())
 */
export function createAuthFetch(options: AuthFetchOptions): AuthFetch {
  const isAllowed = allowedTargets(options.allowedOrigins);
  const session = options.session ?? createSession(options as SessionOptions);
  const port = frontEndOf(session);
  const baseFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  const isUnauthorized = options.isUnauthorized ?? ((response: Response) => response.status === 401);
  const onResponse = options.onResponse;
  const send = onResponse
    ? async (attempt: Attempt, credential: Credential) => {
        const response = await attempt(`Bearer ${credential.accessToken}`);
        await onResponse(response, session);
        return response;
      }
    : (attempt: Attempt, credential: Credential) => attempt(`Bearer ${credential.accessToken}`);

  const authFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = isRequest(input) ? input : undefined;
    const prepared = isAllowed(input, request) ? prepare(baseFetch, input, request, init) : null;
    if (!prepared) return baseFetch(input, init);
    const { attempt, replayable } = prepared;
    const signal = init?.signal ?? request?.signal ?? undefined;

    // A valid token comes back synchronously: send at once, without waiting a turn.
    const credential = port.credential(signal);
    const first = credential instanceof Promise ? await credential : credential;
    const response = await send(attempt, first);
    if (!isUnauthorized(response)) return response;

    if (!replayable) {
      port.reportUnauthorized(first.tokenVersion);
      discard(response);
      throw new NonReplayableBodyError();
    }
    discard(response);
    const second = await port.unauthorized(first.tokenVersion, signal);
    const replayed = await send(attempt, second);
    // Rule 7: replay once; a second 401 is an error, never another refresh.
    if (isUnauthorized(replayed)) throw new UnauthorizedAfterRefreshError(replayed);
    return replayed;
  };

  return Object.assign(authFetch, sessionApi(session));
}
