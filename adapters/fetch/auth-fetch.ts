import { NonReplayableBodyError, UnauthorizedAfterRefreshError } from '../core/errors.js';
import { frontEndOf, type FrontEndPort } from '../core/front-end.js';
import type { DPoPRequests } from '../core/dpop-requests.js';
import { originPolicy, type AllowedOrigins, type OriginPolicy } from '../core/origins.js';
import { createSession, sessionApi, type Session, type SessionApi, type SessionOptions } from '../core/session.js';
import { Waiter, type Credential, type Outcome } from '../core/waiters.js';
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
export type AuthFetchOptions = AuthFetchOwnOptions &
  (
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

/** What every request of one front end shares. */
interface Front extends Authorizer {
  baseFetch: typeof fetch;
  /** Start the replay of an answered waiting request (see `Prepared.settled`). */
  replaySoon(prepared: Prepared): void;
}

/**
 * A request prepared for one or two attempts (the first, and the replay), rebuilt from what
 * the caller gave. A class, not closures: a request that waits for a refresh keeps one, and
 * its fields are all it costs.
 *
 * When the first attempt's token is refused, the request waits as itself: it is the
 * queue's waiter (`settled` is the queue's answer), and it is what `authFetch` returns, a
 * thenable: the runtime hands `then` the resolving functions of authFetch's own promise, so
 * the wait builds no promise of its own and no continuation. The replay starts once both
 * have come (the queue may answer before the runtime calls `then`).
 */
abstract class Prepared extends Waiter {
  /** The queue's answer, until the replay starts. */
  outcome: Outcome | undefined = undefined;
  /** The resolving functions of the promise `authFetch` returned. */
  resolve: ((response: Response) => void) | undefined = undefined;
  reject: ((error: unknown) => void) | undefined = undefined;

  constructor(
    readonly front: Front,
    /** The URL the policy allowed: what is sent. */
    readonly url: string,
  ) {
    super();
  }

  /** Whether redirects are followed here, hop by hop (else fetch follows them itself). */
  abstract readonly follows: boolean;
  /** false when the body is a one-shot stream: sent once, never replayed. */
  abstract readonly replayable: boolean;
  /** Send one attempt with `credential`. */
  abstract attempt(credential: Credential): Promise<Response>;
  /** Follow the redirect `response` answered the last attempt with, hop by hop. */
  abstract follow(response: Response, credential: Credential): Promise<Response>;
  /** The request waits for a refresh: let go of what only the last attempt needed. */
  idle(): void {}

  settled(outcome: Outcome): void {
    this.outcome = outcome;
    if (this.resolve) this.front.replaySoon(this);
  }

  /** Called once, by the runtime (see the class): what it returns is not used. */
  // biome-ignore lint/suspicious/noThenProperty: a thenable on purpose, what authFetch returns while the request waits (see the class)
  then(resolve: (response: Response) => void, reject: (error: unknown) => void): PromiseLike<never> {
    this.resolve = resolve;
    this.reject = reject;
    if (this.outcome) this.front.replaySoon(this);
    return NEVER;
  }
}

/** What `Prepared.then` returns: no one reads it. */
const NEVER: PromiseLike<never> = new Promise<never>(() => undefined);

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
 * The one place this front end sets `Authorization`: the access token (`DPoP` when it goes
 * with a proof), or nothing when the request (or redirect hop) goes where the token may not.
 */
function authorize(headers: Headers, credential: Credential | null, dpop: boolean): void {
  if (credential) headers.set('authorization', `${dpop ? 'DPoP' : 'Bearer'} ${credential.accessToken}`);
  else headers.delete('authorization');
}

/** The methods fetch sends in upper case whatever the case given (Fetch standard: normalize). */
const NORMALIZED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);
/** A method as fetch sends it: what a proof's `htm` must say. */
function sentMethod(method: string | undefined): string {
  if (method === undefined) return 'GET';
  const upper = method.toUpperCase();
  return NORMALIZED_METHODS.has(upper) ? upper : method;
}

/** How a request of this session is authorized: the origin policy, and DPoP when the session uses it. */
interface Authorizer {
  policy: OriginPolicy;
  dpop: DPoPRequests | undefined;
}

/** Sign the request's proof (DPoP) before it is sent. */
async function signed(dpop: DPoPRequests, headers: Headers, method: string, url: string, credential: Credential): Promise<void> {
  await (dpop.loaded ?? (await dpop.load())).sign(headers, method, url, credential);
}

/**
 * Redirect hops keep the token only on allowed origins. With DPoP each hop gets a proof of
 * its own (a proof names one method and URL); a hop elsewhere gets neither.
 */
const hopAuthorizer = ({ policy, dpop }: Authorizer, credential: Credential) => {
  const proof = dpop?.uses(credential) === true;
  return (headers: Headers, url: string, method: string): void | Promise<void> => {
    const allowed = policy.target(url) !== null;
    authorize(headers, allowed ? credential : null, proof);
    if (!proof) return;
    if (allowed) return signed(dpop!, headers, method, url, credential);
    headers.delete('dpop');
  };
};

/**
 * Prepare a request for one or two attempts, or return null when the caller set its own
 * Authorization header (then it is sent untouched). `url` is the URL the policy allowed,
 * already evaluated: it is what is sent. With `manual`, redirects are followed here, hop by
 * hop (see redirects.ts), unless the caller chose another redirect mode.
 */
function prepare(front: Front, url: string, request: Request | undefined, init: RequestInit | undefined, manual: boolean): Prepared | null {
  if (request) {
    if (request.headers.has('authorization') || (init?.headers && new Headers(init.headers).has('authorization'))) return null;
    // A Request (ky, openapi-fetch): keep a clone for the replay; its body is buffered by tee.
    const template = init ? new Request(request, init) : request;
    return new RequestAttempts(front, url, template, manual && template.redirect === 'follow');
  }
  // Built once when the caller gave headers: the same object serves both attempts (fetch
  // copies it; set() replaces the token). Without headers, each attempt builds its own.
  const headers = init?.headers === undefined ? undefined : new Headers(init.headers);
  if (headers?.has('authorization')) return null;
  const replayable = !(typeof ReadableStream !== 'undefined' && init?.body instanceof ReadableStream);
  const follows = manual && (init?.redirect === undefined || init.redirect === 'follow');
  return new InitAttempts(front, url, init, headers, follows, replayable);
}

/** The attempts of a request given as a Request (ky, openapi-fetch): each is sent from a clone. */
class RequestAttempts extends Prepared {
  readonly replayable = true;
  /** A clone of the template kept for the next attempt (its body is buffered by tee). */
  private spare: Request | undefined = undefined;
  /** What the last attempt was sent from, and with which headers (what its redirect hops start from). */
  private source: Request | undefined = undefined;
  private headers: Headers | undefined = undefined;

  constructor(
    front: Front,
    url: string,
    private readonly template: Request,
    readonly follows: boolean,
  ) {
    super(front, url);
  }

  attempt(credential: Credential): Promise<Response> {
    const { dpop, baseFetch } = this.front;
    const { template } = this;
    const source = this.spare ?? template;
    this.spare = template.body ? source.clone() : undefined;
    const headers = new Headers(source.headers);
    const proof = dpop?.uses(credential) === true;
    authorize(headers, credential, proof);
    this.source = source;
    this.headers = headers;
    const changes: RequestInit = this.follows ? { headers, redirect: 'manual' } : { headers };
    if (!proof) return baseFetch(new Request(source, changes));
    return signed(dpop!, headers, source.method, this.url, credential).then(() => baseFetch(new Request(source, changes)));
  }

  follow(response: Response, credential: Credential): Promise<Response> {
    const { baseFetch } = this.front;
    const source = this.source!;
    // The body again, for a 307/308: from a clone of the replay's spare (taken before sending).
    const kept = this.spare;
    return followRedirects(
      response,
      { url: this.url, method: source.method, headers: this.headers! },
      {
        replayable: true,
        body: async () => (kept ? kept.clone().arrayBuffer() : undefined),
        authorize: hopAuthorizer(this.front, credential),
        send: (to, hop) => baseFetch(to, { ...hop, redirect: 'manual', signal: source.signal, credentials: source.credentials }),
      },
    );
  }
}

/** The attempts of a request given as a URL and an init. */
class InitAttempts extends Prepared {
  /** The headers of the last attempt (what its redirect hops start from). */
  private sent: Headers | undefined = undefined;
  private signedBefore = false;

  constructor(
    front: Front,
    url: string,
    private readonly init: RequestInit | undefined,
    /** The caller's headers, built once; undefined: none given. */
    private readonly headers: Headers | undefined,
    readonly follows: boolean,
    readonly replayable: boolean,
  ) {
    super(front, url);
  }

  attempt(credential: Credential): Promise<Response> {
    const { dpop } = this.front;
    const proof = dpop?.uses(credential) === true;
    const headers = this.headers ?? new Headers();
    authorize(headers, credential, proof);
    // The replay reuses the caller's headers: a Bearer replay after a DPoP attempt sends no proof.
    if (proof) this.signedBefore = true;
    else if (this.signedBefore) headers.delete('dpop');
    if (!proof) return this.send(headers);
    return signed(dpop!, headers, sentMethod(this.init?.method), this.url, credential).then(() => this.send(headers));
  }

  /** Send the attempt with `headers`. */
  private send(headers: Headers): Promise<Response> {
    const { init } = this;
    this.sent = headers;
    return this.front.baseFetch(this.url, this.follows ? { ...init, headers, redirect: 'manual' } : { ...init, headers });
  }

  follow(response: Response, credential: Credential): Promise<Response> {
    const { init } = this;
    const { baseFetch } = this.front;
    // The hops get their own headers: the caller's object is reused by the replay.
    return followRedirects(
      response,
      { url: this.url, method: (init?.method ?? 'GET').toUpperCase(), headers: new Headers(this.sent) },
      {
        replayable: this.replayable,
        body: () => init?.body ?? undefined,
        authorize: hopAuthorizer(this.front, credential),
        send: (to, hop) => baseFetch(to, { ...init, ...hop, redirect: 'manual' }),
      },
    );
  }

  override idle(): void {
    // Headers built for the attempt alone: the replay builds its own.
    if (!this.headers) this.sent = undefined;
  }
}

/** The global fetch, looked up at each call (a polyfill or a test's stub installed later is used). */
const globalFetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => globalThis.fetch(input, init);
const isStatus401 = (response: Response) => response.status === 401;

/**
 * One front end: what its requests share, and what they do. A class, not closures made per
 * `createAuthFetch`: a server holding a session per user builds one front end each, and
 * methods are shared by all of them (no functions per instance, and the release path's
 * optimized code serves every front end, where closures would each be cold the first time
 * their session released a queue).
 */
class FetchFront implements Front {
  readonly dpop: DPoPRequests | undefined;
  /**
   * Answered waiting requests whose replays start at the next microtask, together: one turn
   * for a released queue, not one per request.
   */
  private answered: Prepared[] | undefined = undefined;

  constructor(
    readonly policy: OriginPolicy,
    readonly session: Session,
    private readonly port: FrontEndPort,
    readonly baseFetch: typeof fetch,
    private readonly isUnauthorized: (response: Response) => boolean | Promise<boolean>,
    private readonly onResponse: AuthFetchOwnOptions['onResponse'],
    private readonly manual: boolean,
  ) {
    this.dpop = port.dpop;
  }

  // Not at once: the queue answers from inside the statechart's step.
  replaySoon(prepared: Prepared): void {
    if (this.answered) return void this.answered.push(prepared);
    this.answered = [prepared];
    queueMicrotask(() => this.replayAnswered());
  }

  /**
   * The builtin's loop calls `replay` for each: a loop here, run once per release, would be
   * compiled (inlining the whole replay) for the one run.
   */
  private replayAnswered(): void {
    const replays = this.answered!;
    this.answered = undefined;
    replays.forEach(this.replay, this);
  }

  /**
   * Whether `response` answers the request itself, not a foreign origin a redirect led to:
   * only then may it reach `onResponse` or count as a refused token.
   */
  private isOwn(response: Response): boolean {
    return !response.redirected || this.policy.target(response.url) !== null;
  }

  /**
   * Whether the token was refused; a plain boolean when no await is needed (the hot path
   * takes no extra turn). `asIs`: an answer that says nothing about the token (see
   * `withProof`); `onResponse` still sees it.
   */
  private refused(response: Response, asIs = false): boolean | Promise<boolean> {
    if (!this.isOwn(response)) return false;
    const { onResponse, isUnauthorized } = this;
    if (onResponse) return Promise.resolve(onResponse(response, this.session)).then(() => !asIs && isUnauthorized(response));
    return !asIs && isUnauthorized(response);
  }

  /** Whether `sent` is a redirect that is followed here, hop by hop. */
  private redirectsHere(prepared: Prepared, sent: Response): boolean {
    return prepared.follows && isRedirect(sent);
  }

  /** What an attempt's answer `sent` leads to: itself, or where its redirects end. */
  private followed(prepared: Prepared, credential: Credential, sent: Response): Response | Promise<Response> {
    return this.redirectsHere(prepared, sent) ? prepared.follow(sent, credential) : sent;
  }

  /** One attempt, its redirects followed. */
  private async exchange(prepared: Prepared, credential: Credential): Promise<Response> {
    return this.followed(prepared, credential, await prepared.attempt(credential));
  }

  /**
   * The answer to a request sent with a DPoP proof. A `use_dpop_nonce` challenge is not a
   * refused token: the request is sent once more with the nonce it brought, and no refresh
   * starts (the statechart never hears of it). What comes back is handed over `asIs` (never
   * judged a refused token) when it is still a nonce challenge, when the body cannot be sent
   * again, or when the browser followed a redirect with the first proof, which names another
   * URL: no refresh can make that proof valid.
   */
  private async withProof(prepared: Prepared, credential: Credential, response: Response): Promise<{ response: Response; asIs: boolean }> {
    const proofs = this.dpop!.loaded ?? (await this.dpop!.load());
    const challenged = (answer: Response) => proofs.answered(answer.url || prepared.url, answer.status, (name) => answer.headers.get(name));
    const staleProof = (answer: Response) => !this.manual && answer.redirected;
    if (!challenged(response)) return { response, asIs: staleProof(response) };
    if (!prepared.replayable) return { response, asIs: true };
    discard(response);
    const again = await this.exchange(prepared, credential);
    return { response: again, asIs: challenged(again) || staleProof(again) };
  }

  /**
   * Whether an attempt's answer `sent` is not the answer yet: a redirect to follow here, or a
   * DPoP request (its nonce challenge is answered first). Otherwise `sent` is judged as it is,
   * without a turn.
   */
  private unfinished(prepared: Prepared, credential: Credential, sent: Response): boolean {
    return this.redirectsHere(prepared, sent) || this.dpop?.uses(credential) === true;
  }

  /** The answer an attempt ends with: its redirects followed, a DPoP nonce challenge answered. */
  private async finished(prepared: Prepared, credential: Credential, sent: Response): Promise<{ response: Response; asIs: boolean }> {
    const response = await this.followed(prepared, credential, sent);
    return this.dpop?.uses(credential) ? this.withProof(prepared, credential, response) : { response, asIs: false };
  }

  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const { policy, port, baseFetch } = this;
    const request = isRequest(input) ? input : undefined;
    // The URL is read once, and what was read is what is sent (an object's toString() could
    // answer differently the second time).
    const given = request ? requestUrl(request) : typeof input === 'string' ? input : input instanceof URL ? input.href : String(input);
    const url = policy.target(given);
    const prepared = url === null ? null : prepare(this, url, request, init, this.manual);
    if (!prepared) return baseFetch(input, init);
    const signal = init?.signal ?? request?.signal ?? undefined;

    // A valid token comes back synchronously: send at once, without waiting a turn.
    const credential = port.credential(signal);
    const first = credential instanceof Promise ? await credential : credential;
    const sent = await prepared.attempt(first);
    let response = sent;
    let asIs = false;
    if (this.unfinished(prepared, first, sent)) ({ response, asIs } = await this.finished(prepared, first, sent));
    const verdict = this.refused(response, asIs);
    if (!(typeof verdict === 'boolean' ? verdict : await verdict)) return response;

    if (!prepared.replayable) {
      port.reportUnauthorized(first.tokenVersion);
      discard(response);
      throw new NonReplayableBodyError();
    }
    discard(response);
    // The wait holds the prepared request alone, not this function's frame (see Prepared).
    prepared.idle();
    if (port.queueUnauthorized) port.queueUnauthorized(first.tokenVersion, prepared, signal);
    else
      port.unauthorized(first.tokenVersion, signal).then(
        (second) => prepared.settled({ credential: second }),
        (error: unknown) => prepared.settled({ error }),
      );
    return prepared;
  }

  /**
   * The replay of a waiting request, once the queue answered: with the refreshed token, or
   * the error it fails with. R7: replay once; a second refusal is an error, never another
   * refresh. No async frame: the answer is judged as it comes back, and goes straight to the
   * caller's promise (see Prepared); only an unfinished one (`finished`) takes more turns.
   */
  private replay(prepared: Prepared): void {
    const outcome = prepared.outcome!;
    prepared.outcome = undefined;
    if ('error' in outcome) {
      prepared.reject!(outcome.error);
      return;
    }
    const second = outcome.credential;
    let sending: Promise<Response>;
    try {
      sending = Promise.resolve(prepared.attempt(second));
    } catch (error) {
      prepared.reject!(error);
      return;
    }
    sending.then((sent) => {
      // Whatever throws here (an isUnauthorized or onResponse that throws, a fetch that
      // answered with something else than a Response) is the caller's error, as it was when
      // the replay was an async function.
      try {
        if (this.unfinished(prepared, second, sent)) return void this.replayFinished(prepared, second, sent);
        const verdict = this.refused(sent);
        if (typeof verdict === 'boolean') this.answer(prepared, sent, verdict);
        else verdict.then((refusedAgain) => this.answer(prepared, sent, refusedAgain), prepared.reject);
      } catch (error) {
        prepared.reject!(error);
      }
    }, prepared.reject);
  }

  private async replayFinished(prepared: Prepared, second: Credential, sent: Response): Promise<void> {
    try {
      const { response, asIs } = await this.finished(prepared, second, sent);
      this.answer(prepared, response, await this.refused(response, asIs));
    } catch (error) {
      prepared.reject!(error);
    }
  }

  /** Hand the replay's answer to the caller: the response, or the error a second refusal is. */
  private answer(prepared: Prepared, response: Response, refusedAgain: boolean): void {
    if (refusedAgain) prepared.reject!(new UnauthorizedAfterRefreshError(response));
    else prepared.resolve!(response);
  }
}

/**
 * Create a `fetch` that attaches `Authorization: Bearer …` to allowed origins, turns a 401
 * into one shared refresh, and replays the request once with the new token. With the
 * session's `dpop` option, a DPoP-bound token goes as `Authorization: DPoP …` with a proof
 * per request (and per redirect hop followed by hand, outside browsers); a resource
 * server's `use_dpop_nonce` challenge is answered by sending once more with its nonce,
 * without a refresh.
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
  const front = new FetchFront(
    policy,
    session,
    frontEndOf(session),
    options.fetch ?? globalFetch,
    options.isUnauthorized ?? isStatus401,
    options.onResponse,
    !redirectsAreOpaque(),
  );
  const authFetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => front.fetch(input, init);
  return Object.assign(authFetch, sessionApi(session));
}
