import { NonReplayableBodyError, UnauthorizedAfterRefreshError } from '../core/errors.js';
import { frontEndOf } from '../core/front-end.js';
import { originPolicy, type AllowedOrigins, type OriginPolicy } from '../core/origins.js';
import { createSession, sessionApi, type Session, type SessionApi, type SessionOptions } from '../core/session.js';
import type { Credential } from '../core/waiters.js';
import { browserPage, redirectsAreOpaque } from './page.js';
import { discard, followRedirects, isRedirect } from './redirects.js';

/**
 * The options of the front end: the options of a new session (`refresh` required), or an
 * existing `session` to share (with another front end, React, …), plus the front end's own options.
 * @example
 * { refresh: oauthRefresher({ tokenEndpoint, clientId }), allowedOrigins: ['https://api.example.com'] }
 * @example
 * { session, allowedOrigins: ['https://api.example.com'] }
 */
export type AuthFetchOptions = AuthFetchOwnOptions & (
  | (SessionOptions & { session?: undefined })
  | (Partial<SessionOptions> & {
      /** An existing session to share (with another front end, React, …); the session options here are then not used. */
      session: Session;
    })
);

/** What the front end itself takes, whichever session it uses. */
export interface AuthFetchOwnOptions {
  /**
   * Origins that may receive the access token. Default: the page's own origin in a browser;
   * elsewhere required. Requests to any other origin are sent untouched, and a redirect to
   * one is followed without the token.
   * @example ['https://api.example.com']
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * The fetch to wrap.
   * @default globalThis.fetch
   */
  fetch?: typeof fetch;
  /**
   * Whether a response means "the access token was refused". It may be async, to read the
   * body: read it from `response.clone()`, so the caller still gets the body. Only answers
   * from allowed origins are asked.
   * @default (response) => response.status === 401
   * @example
   * // GraphQL servers answer an expired token with HTTP 200 and an UNAUTHENTICATED error.
   * isUnauthorized: async (response) =>
   *   response.status === 401 ||
   *   (response.headers.get('content-type')?.includes('json') === true &&
   *     ((await response.clone().json()) as { errors?: { extensions?: { code?: string } }[] })
   *       .errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED') === true)
   */
  isUnauthorized?: (response: Response) => boolean | Promise<boolean>;
  /**
   * Sees every response from an allowed origin before the caller does (after a redirect,
   * only when the redirect ended on an allowed origin). Use it when a server refreshes
   * tokens itself and says so (an `X-Token-Refreshed` header, new tokens in the body): hand
   * them over with `updateTokens`, which stores them and releases any waiting request
   * without a token call; or call `refresh()`, which joins the refresh under way instead of
   * starting a second one. Read the body from `response.clone()`.
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

/** One attempt of a request (the first, or the replay), rebuilt from what the caller gave. */
type Attempt = (credential: Credential) => Promise<Response>;

/** A request prepared for one or two attempts. */
interface Prepared {
  attempt: Attempt;
  /** Follow the redirect `response` answered the last attempt with, hop by hop; absent when fetch follows redirects itself. */
  follow?: (response: Response, credential: Credential) => Promise<Response>;
  /** false when the body is a one-shot stream: sent once, never replayed. */
  replayable: boolean;
}

function isRequest(value: unknown): value is Request {
  return typeof Request !== 'undefined' && value instanceof Request;
}

let requestUrlGetter: ((this: Request) => string) | undefined;
/** A Request's URL from its internal slot: the one fetch sends to, whatever a subclass's `url` getter says. */
function requestUrl(request: Request): string {
  requestUrlGetter ??= Object.getOwnPropertyDescriptor(Request.prototype, 'url')!.get as (this: Request) => string;
  return requestUrlGetter.call(request);
}

/**
 * The one place this front end sets `Authorization`: the access token, or nothing when the
 * request (or redirect hop) goes where the token may not.
 */
function authorize(headers: Headers, credential: Credential | null): void {
  if (credential) headers.set('authorization', `Bearer ${credential.accessToken}`);
  else headers.delete('authorization');
}

/** Redirect hops keep the token only on allowed origins. */
const hopAuthorizer = (policy: OriginPolicy, credential: Credential) => (headers: Headers, url: string) =>
  authorize(headers, policy.target(url) === null ? null : credential);

/**
 * Prepare a request for one or two attempts, or return null when the caller set its own
 * Authorization header (then it is sent untouched). `url` is the URL the policy allowed,
 * already evaluated: it is what is sent. With `manual`, redirects are followed here, hop by
 * hop (see redirects.ts), unless the caller chose another redirect mode.
 */
function prepare(
  baseFetch: typeof fetch,
  policy: OriginPolicy,
  url: string,
  request: Request | undefined,
  init: RequestInit | undefined,
  manual: boolean,
): Prepared | null {
  if (request) {
    if (request.headers.has('authorization') || (init?.headers && new Headers(init.headers).has('authorization'))) return null;
    // A Request (ky, openapi-fetch): keep a clone for the replay; its body is buffered by tee.
    const template = init ? new Request(request, init) : request;
    const follows = manual && template.redirect === 'follow';
    let spare: Request | undefined;
    let last: { source: Request; headers: Headers } | undefined;
    return {
      replayable: true,
      attempt: (credential) => {
        const source = spare ?? template;
        spare = template.body ? source.clone() : undefined;
        const headers = new Headers(source.headers);
        authorize(headers, credential);
        last = { source, headers };
        return baseFetch(new Request(source, follows ? { headers, redirect: 'manual' } : { headers }));
      },
      follow: follows
        ? (response, credential) => {
            const { source, headers } = last!;
            // The body again, for a 307/308: from a clone of the replay's spare (taken before sending).
            const kept = spare;
            return followRedirects(response, { url, method: source.method, headers }, {
              replayable: true,
              body: async () => (kept ? kept.clone().arrayBuffer() : undefined),
              authorize: hopAuthorizer(policy, credential),
              send: (to, hop) => baseFetch(to, { ...hop, redirect: 'manual', signal: source.signal, credentials: source.credentials }),
            });
          }
        : undefined,
    };
  }
  // Built once: the same object serves both attempts (fetch copies it; set() replaces the token).
  const headers = new Headers(init?.headers);
  if (headers.has('authorization')) return null;
  const replayable = !(typeof ReadableStream !== 'undefined' && init?.body instanceof ReadableStream);
  const follows = manual && (init?.redirect === undefined || init.redirect === 'follow');
  return {
    replayable,
    attempt: (credential) => {
      authorize(headers, credential);
      return baseFetch(url, follows ? { ...init, headers, redirect: 'manual' } : { ...init, headers });
    },
    follow: follows
      ? (response, credential) =>
          // The hops get their own headers: this object is reused by the replay.
          followRedirects(response, { url, method: (init?.method ?? 'GET').toUpperCase(), headers: new Headers(headers) }, {
            replayable,
            body: () => init?.body ?? undefined,
            authorize: hopAuthorizer(policy, credential),
            send: (to, hop) => baseFetch(to, { ...init, ...hop, redirect: 'manual' }),
          })
      : undefined,
  };
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
  const policy = originPolicy(options.allowedOrigins, browserPage);
  const session = options.session ?? createSession(options as SessionOptions);
  const port = frontEndOf(session);
  const baseFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  const isUnauthorized = options.isUnauthorized ?? ((response: Response) => response.status === 401);
  const onResponse = options.onResponse;
  const manual = !redirectsAreOpaque();

  /**
   * Whether `response` answers the request itself, not a foreign origin a redirect led to:
   * only then may it reach `onResponse` or count as a refused token.
   */
  const isOwn = (response: Response) => !response.redirected || policy.target(response.url) !== null;
  /** Whether the token was refused; a plain boolean when no await is needed (the hot path takes no extra turn). */
  const refused = (response: Response): boolean | Promise<boolean> => {
    if (!isOwn(response)) return false;
    if (onResponse) return Promise.resolve(onResponse(response, session)).then(() => isUnauthorized(response));
    return isUnauthorized(response);
  };
  const wasRefused = async (response: Response) => {
    const verdict = refused(response);
    return typeof verdict === 'boolean' ? verdict : await verdict;
  };

  const authFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = isRequest(input) ? input : undefined;
    // The URL is read once, and what was read is what is sent (an object's toString() could
    // answer differently the second time).
    const given = request ? requestUrl(request) : typeof input === 'string' ? input : input instanceof URL ? input.href : String(input);
    const url = policy.target(given);
    const prepared = url === null ? null : prepare(baseFetch, policy, url, request, init, manual);
    if (!prepared) return baseFetch(input, init);
    const { attempt, follow, replayable } = prepared;
    const signal = init?.signal ?? request?.signal ?? undefined;

    // A valid token comes back synchronously: send at once, without waiting a turn.
    const credential = port.credential(signal);
    const first = credential instanceof Promise ? await credential : credential;
    const sent = await attempt(first);
    const response = follow && isRedirect(sent) ? await follow(sent, first) : sent;
    const verdict = refused(response);
    if (!(typeof verdict === 'boolean' ? verdict : await verdict)) return response;

    if (!replayable) {
      port.reportUnauthorized(first.tokenVersion);
      discard(response);
      throw new NonReplayableBodyError();
    }
    discard(response);
    const second = await port.unauthorized(first.tokenVersion, signal);
    const again = await attempt(second);
    const replayed = follow && isRedirect(again) ? await follow(again, second) : again;
    // R7: replay once; a second refusal is an error, never another refresh.
    if (await wasRefused(replayed)) throw new UnauthorizedAfterRefreshError(replayed);
    return replayed;
  };

  return Object.assign(authFetch, sessionApi(session));
}
