import type { AxiosError, AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { DPoPUnavailableError, NonReplayableBodyError, UnauthorizedAfterRefreshError } from '../core/errors.js';
import { frontEndOf } from '../core/front-end.js';
import { originPolicy, type AllowedOrigins } from '../core/origins.js';
import { createSession, sessionApi, type Session, type SessionApi, type SessionOptions } from '../core/session.js';
import type { Credential } from '../core/waiters.js';
import { browserPage } from '../fetch/page.js';
import { redactError } from './redact.js';
import { answeredFrom, observingFetch, originPart } from './urls.js';

/**
 * The options of the front end: the options of a new session (`refresh` required), or an
 * existing `session` to share (with `authchart/fetch`, React, …), plus the front end's own options.
 * @example
 * { refresh: oauthRefresher({ tokenEndpoint, clientId }), allowedOrigins: ['https://api.example.com'] }
 * @example
 * { session, allowedOrigins: ['https://api.example.com'] }
 */
export type AuthAxiosOptions = AuthAxiosOwnOptions &
  (
    | (SessionOptions & { session?: undefined })
    | (Partial<SessionOptions> & {
        /** An existing session to share (with `authchart/fetch`, React, …); the session options here are then not used. */
        session: Session;
      })
  );

/** What the front end itself takes, whichever session it uses. */
export interface AuthAxiosOwnOptions {
  /**
   * Origins that may receive the access token. Default: the page's own origin in a browser;
   * elsewhere required. Requests to any other origin are sent untouched, and a redirect to
   * one is followed without the token.
   * @example ['https://api.example.com']
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * Whether an answer means "the access token was refused". Asked of every response from an
   * allowed origin, a success or the `response` of an error; it may be async (the body is
   * already parsed in `response.data`). Network errors never mean it.
   * @default (response) => response.status === 401
   * @example
   * // GraphQL servers answer an expired token with HTTP 200 and an UNAUTHENTICATED error.
   * isUnauthorized: (response) =>
   *   response.status === 401 ||
   *   response.data?.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED') === true
   */
  isUnauthorized?: (response: AxiosResponse) => boolean | Promise<boolean>;
  /**
   * Sees every response (success or error) from an allowed origin (after a redirect, only
   * when it ended on an allowed origin); hand tokens a server sent along to `updateTokens`
   * (see `authchart/fetch`'s `onResponse`).
   * @example
   * onResponse: async (response, { updateTokens }) => {
   *   if (response.headers['x-token-refreshed']) await updateTokens({ accessToken: response.data.access_token })
   * }
   */
  onResponse?: (response: AxiosResponse, session: Pick<Session, 'updateTokens' | 'refresh'>) => void | Promise<void>;
}

/** The session's API, plus `detach()` to remove the interceptors. */
export interface AuthAxios extends SessionApi {
  /** Remove the interceptors (the session keeps running; `dispose()` stops it). */
  detach(): void;
}

/**
 * What authchart knows of one request it sends (its first attempt and its replay). It lives
 * in a closure, the request's own `transformRequest` step, never on the config: the config
 * is logged and serialised, and axios 1.7's mergeConfig drops symbol keys, while a function
 * in `transformRequest` survives every merge (the replay is a new config object).
 */
interface Sending {
  /** The credential the request goes out with (tokenVersion -1 and no token: sent without one). */
  credential?: Credential;
  /** The Authorization value authchart set, to tell it from one the app sets. */
  attached?: string;
  /** Sent where the token may go (decided on the final config). */
  allowed: boolean;
  /** The last redirect hop, when it was redirected (http adapter). */
  finalUrl?: string;
  /** The app's own `beforeRedirect`, called first and restored when the token is taken out. */
  appBeforeRedirect?: BeforeRedirect;
  /** authchart's `beforeRedirect` for this request (made once, kept for the replay). */
  redirectHook?: BeforeRedirect;
  /** The next pass through the interceptors is the replay (set just before it). */
  replaying: boolean;
  /** This request was replayed once already (R7). */
  replayed: boolean;
  /** The app's own `adapter`, restored when the config reaches the app (DPoP wraps it). */
  appAdapter?: unknown;
  /** authchart's DPoP adapter for this request (made once, kept for the replays). */
  dpopAdapter?: AxiosAdapter;
  /** The URL the last DPoP proof was signed for; undefined when the last attempt carried none. */
  signedUrl?: string;
  /** This attempt was sent once more for a `use_dpop_nonce` challenge already. */
  nonceRetried?: boolean;
}

type BeforeRedirect = (options: RedirectOptions, ...rest: unknown[]) => void;
type AxiosAdapter = (config: InternalAxiosRequestConfig) => Promise<AxiosResponse>;
/** What follow-redirects hands `beforeRedirect`: the next hop, with plain-object headers. */
interface RedirectOptions {
  href: string;
  headers?: Record<string, unknown>;
}
type Transform = (this: InternalAxiosRequestConfig, data: unknown, headers: InternalAxiosRequestConfig['headers']) => unknown;

/** A request sent without a token because the token was not at hand when its final URL became allowed: its 401 is a stale one. */
const NO_TOKEN: Credential = { accessToken: '', tokenVersion: -1 };

type HeaderBag = InternalAxiosRequestConfig['headers'] | Record<string, unknown>;

/** Remove a header from axios's headers or from the plain headers of a redirect hop. */
function dropHeader(headers: HeaderBag, header: string): void {
  if (typeof (headers as { delete?: unknown }).delete === 'function') {
    (headers as InternalAxiosRequestConfig['headers']).delete(header);
    return;
  }
  const plain = headers as Record<string, unknown>;
  for (const name of Object.keys(plain)) if (name.toLowerCase() === header) delete plain[name];
}

/**
 * The one place this front end sets `Authorization` (on axios's headers, or on the plain
 * headers of a redirect hop): the access token (`DPoP` when a proof goes with it), or
 * nothing. Returns the value set.
 */
function authorize(headers: HeaderBag, credential: Credential | null, dpop = false): string | undefined {
  const value = credential?.accessToken ? `${dpop ? 'DPoP' : 'Bearer'} ${credential.accessToken}` : undefined;
  if (typeof (headers as { set?: unknown }).set === 'function') {
    const axiosHeaders = headers as InternalAxiosRequestConfig['headers'];
    if (value) axiosHeaders.set('Authorization', value);
    else axiosHeaders.delete('authorization');
  } else {
    dropHeader(headers, 'authorization');
    if (value) (headers as Record<string, unknown>).Authorization = value;
  }
  return value;
}

/** A response header, from axios's headers object (or a plain one). */
function headerOf(response: AxiosResponse, name: string): string | null {
  const headers = response.headers as { get?: (name: string) => unknown } & Record<string, unknown>;
  const value = typeof headers?.get === 'function' ? headers.get(name) : headers?.[name];
  return typeof value === 'string' ? value : Array.isArray(value) ? value.join(', ') : null;
}

/** A URL without its query and fragment (a proof's `htu`), or the URL itself when it does not parse. */
function withoutQuery(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return url;
  }
}

/**
 * How the DPoP adapter reaches the app's adapter: a function is called as is; a name or a
 * list of names (axios's default) is resolved by axios's own `getAdapter`, loaded with the
 * DPoP code (only sessions that use DPoP import axios here).
 */
type AdapterResolver = (adapter: unknown, config: InternalAxiosRequestConfig) => AxiosAdapter;
let adapterResolver: Promise<AdapterResolver> | undefined;
function resolveAdapter(): Promise<AdapterResolver> {
  adapterResolver ??= import('axios').then(
    (module) => {
      const axios = ((module as { default?: unknown }).default ?? module) as {
        getAdapter?: (adapter: unknown, config?: unknown) => AxiosAdapter;
        defaults: { adapter?: unknown };
      };
      const getAdapter = (module as { getAdapter?: typeof axios.getAdapter }).getAdapter ?? axios.getAdapter;
      if (typeof getAdapter !== 'function') throw new TypeError('axios.getAdapter is missing (axios 1.7 or later is needed for DPoP)');
      return (adapter, config) => (typeof adapter === 'function' ? (adapter as AxiosAdapter) : getAdapter(adapter ?? axios.defaults.adapter, config));
    },
    (cause: unknown) => {
      adapterResolver = undefined;
      throw cause;
    },
  );
  return adapterResolver;
}

function isOneShotStream(data: unknown): boolean {
  if (typeof data !== 'object' || data === null) return false;
  if (typeof ReadableStream !== 'undefined' && data instanceof ReadableStream) return true;
  // A Node.js Readable: consumed by the first send.
  return typeof (data as { pipe?: unknown }).pipe === 'function' && typeof (data as { read?: unknown }).read === 'function';
}

function signalOf(config: InternalAxiosRequestConfig): AbortSignal | undefined {
  const signal = config.signal as AbortSignal | undefined;
  return signal && typeof signal.addEventListener === 'function' ? signal : undefined;
}

/**
 * Add authchart to an axios instance. The token is attached at the last moment, after every
 * request interceptor (whatever the order they were added in), by a step authchart appends
 * to the request's `transformRequest`: the origin is decided on the URL axios will really
 * send to. A redirect keeps the token only while it stays on allowed origins. The response
 * interceptor turns a refused token into one shared refresh and replays the request once
 * through the same instance. A 401 that arrives while a refresh runs is queued and
 * replayed, never rejected. Works with axios's http (Node) and fetch adapters. With the
 * session's `dpop` option, a DPoP-bound token goes as `Authorization: DPoP …` with a proof
 * signed just before the adapter sends (a redirect hop goes without either: see
 * docs/dpop.md); a `use_dpop_nonce` challenge is answered once with its nonce, without a
 * refresh.
 * @example
 * const api = axios.create({ baseURL: 'https://api.example.com' })
 * const auth = attachAuth(api, {
 *   refresh: oauthRefresher({ tokenEndpoint: 'https://auth.example.com/oauth/token', clientId: 'web' }),
 *   allowedOrigins: ['https://api.example.com'],
 * })
 * await auth.login({ accessToken, refreshToken })
 * const { data } = await api.get('/me')
 */
export function attachAuth(instance: AxiosInstance, options: AuthAxiosOptions): AuthAxios {
  const policy = originPolicy(options.allowedOrigins, browserPage);
  const session = options.session ?? createSession(options as SessionOptions);
  const port = frontEndOf(session);
  const isUnauthorized = options.isUnauthorized ?? ((response: AxiosResponse) => response.status === 401);
  const onResponse = options.onResponse;
  const predicate = typeof options.allowedOrigins === 'function';
  const dpop = port.dpop;

  /** The URL the request goes to when it may carry the token, else null. */
  const target = (config: InternalAxiosRequestConfig): string | null => {
    const part = predicate ? undefined : originPart(config, instance.defaults);
    if (part !== undefined) return policy.target(part) === null ? null : part;
    try {
      return policy.target(instance.getUri(config));
    } catch {
      return null;
    }
  };

  /**
   * Each request's own transformRequest step carries what it knows (see Sending), under a
   * key of this front end's own. A property, not an entry per request in a WeakMap: each
   * entry is an ephemeron the garbage collector must trace, which cost about a quarter of
   * the interceptors' time per request on the valid-token path.
   */
  const SENDING = Symbol('authchart.sending');
  type Step = Transform & { [SENDING]?: Sending };
  const sendingOfStep = (fn: unknown): Sending | undefined => (typeof fn === 'function' ? (fn as Step)[SENDING] : undefined);
  const markStep = (step: Transform, sending: Sending): void => {
    (step as Step)[SENDING] = sending;
  };
  const stepOf = (config: InternalAxiosRequestConfig): Transform | undefined => {
    const list = config.transformRequest;
    if (Array.isArray(list)) return (list as Transform[]).find((fn) => sendingOfStep(fn) !== undefined);
    return sendingOfStep(list) !== undefined ? (list as Transform) : undefined;
  };
  const sendingOf = (config: InternalAxiosRequestConfig | undefined) => {
    const step = config && stepOf(config);
    return step && sendingOfStep(step);
  };
  const withoutStep = (list: unknown, step: Transform | undefined): Transform[] =>
    (Array.isArray(list) ? (list as Transform[]) : list ? [list as Transform] : []).filter((fn) => fn !== step);

  /** Each request's `beforeRedirect` (http adapter): the token goes on only to allowed origins, whatever follow-redirects does. */
  // Marked with a key of this front end's own, for the same reason as the steps.
  const HOOK = Symbol('authchart.beforeRedirect');
  type Hook = BeforeRedirect & { [HOOK]?: true };
  const beforeRedirectFor = (sending: Sending): BeforeRedirect => {
    const hook: BeforeRedirect = function (this: unknown, redirect, ...rest) {
      sending.appBeforeRedirect?.call(this, redirect, ...rest);
      sending.finalUrl = redirect.href;
      if (!redirect.headers) return;
      if (sending.signedUrl !== undefined) {
        // A proof names one method and URL, and this hook cannot sign a new one (it is
        // synchronous): the hop goes without the token and the proof, and its answer is the
        // app's as it is (see judged()).
        authorize(redirect.headers, null);
        dropHeader(redirect.headers, 'dpop');
        return;
      }
      authorize(redirect.headers, policy.target(redirect.href) === null ? null : (sending.credential ?? null));
    };
    (hook as Hook)[HOOK] = true;
    return hook;
  };

  /**
   * DPoP: the proof is signed here, in an adapter wrapped around the app's, because the
   * transformRequest step that attaches the token is synchronous and signing is not. It runs
   * after every interceptor and transform, on the URL and method axios sends.
   */
  const dpopAdapters = new WeakSet<object>();
  const dpopAdapterFor = (sending: Sending): AxiosAdapter => {
    const adapter: AxiosAdapter = async (config) => {
      const proofs = dpop!.loaded ?? (await dpop!.load());
      const url = requestUrl(config);
      await proofs.sign(config.headers, String(config.method ?? 'get').toUpperCase(), url, sending.credential!);
      sending.signedUrl = url;
      let send: AxiosAdapter;
      try {
        send = (await resolveAdapter())(sending.appAdapter, config);
      } catch (cause) {
        throw new DPoPUnavailableError("axios's adapter could not be reached to send a request with a DPoP proof; it was not sent.", { cause });
      }
      return send(config);
    };
    dpopAdapters.add(adapter);
    return adapter;
  };
  const restoreAdapter = (config: InternalAxiosRequestConfig, sending: Sending) => {
    if (sending.appAdapter === undefined) delete config.adapter;
    else config.adapter = sending.appAdapter as InternalAxiosRequestConfig['adapter'];
  };
  /** The absolute URL axios sends to (query included; the proof leaves it out). */
  const requestUrl = (config: InternalAxiosRequestConfig): string => new URL(instance.getUri(config), browserPage.base()).href;

  /**
   * The last step before the adapter: every interceptor has run, so the URL is final.
   * Attach the token when it is allowed, take it off when not.
   */
  const lastStep = (sending: Sending): Transform =>
    function authchartAuthorize(data, headers) {
      const own = headers.get('authorization');
      if (own != null && own !== sending.attached) return data; // set by the app after authchart: its own
      const url = target(this);
      if (url === null) {
        if (sending.attached !== undefined) headers.delete('authorization');
        sending.attached = undefined;
        sending.allowed = false;
        if (sending.dpopAdapter !== undefined) {
          headers.delete('dpop');
          restoreAdapter(this, sending);
        }
        return data;
      }
      if (!sending.credential) {
        // The URL became allowed after authchart's interceptor ran (an interceptor added
        // before attachAuth set it): take the token if it is at hand, else send without one
        // and let the 401 wait for the refresh under way.
        const now = port.credential(signalOf(this));
        if (now instanceof Promise) now.catch(() => undefined);
        sending.credential = now instanceof Promise ? NO_TOKEN : now;
      }
      sending.allowed = true;
      sending.finalUrl = undefined;
      sending.signedUrl = undefined;
      const proof = dpop !== undefined && sending.credential.accessToken !== '' && dpop.uses(sending.credential);
      sending.attached = authorize(headers, sending.credential, proof);
      const adapter = this.adapter as unknown;
      if (!dpopAdapters.has(adapter as object)) sending.appAdapter = adapter;
      if (proof) {
        sending.dpopAdapter ??= dpopAdapterFor(sending);
        this.adapter = sending.dpopAdapter as InternalAxiosRequestConfig['adapter'];
      } else if (sending.dpopAdapter !== undefined) {
        // Sent with a proof before (the replay reuses the headers): not this time.
        headers.delete('dpop');
        if (adapter !== sending.appAdapter) restoreAdapter(this, sending);
      }
      const current = this.beforeRedirect as BeforeRedirect | undefined;
      if (!current || (current as Hook)[HOOK] !== true) sending.appBeforeRedirect = current;
      sending.redirectHook ??= beforeRedirectFor(sending);
      this.beforeRedirect = sending.redirectHook as InternalAxiosRequestConfig['beforeRedirect'];
      // The fetch adapter (axios 1.12+) sends through env.fetch: observe where redirects end.
      const env = this.env as { fetch?: unknown } | undefined;
      const observer = observingFetch(env?.fetch);
      if (env?.fetch !== observer) this.env = { ...env, fetch: observer } as InternalAxiosRequestConfig['env'];
      return data;
    };

  const requestId = instance.interceptors.request.use(async (config) => {
    const previous = stepOf(config);
    const sending = previous && sendingOfStep(previous);
    if (sending?.replaying) {
      sending.replaying = false; // the replay: its credential is set
      return config;
    }
    const own = config.headers.get('authorization');
    if (own != null && own !== sending?.attached) return config; // the app's own header: untouched
    // A first send, or a config the app sends again: start afresh.
    const fresh: Sending = {
      allowed: false,
      replaying: false,
      replayed: false,
      appBeforeRedirect: sending?.appBeforeRedirect,
      appAdapter: sending?.appAdapter,
    };
    const step = lastStep(fresh);
    markStep(step, fresh);
    config.transformRequest = [...withoutStep(config.transformRequest, previous), step];
    if (target(config) !== null) {
      const credential = port.credential(signalOf(config));
      fresh.credential = credential instanceof Promise ? await credential : credential;
    }
    return config;
  });

  /** Whether this answer is authchart's to judge: sent with its token, and answered from an allowed origin. */
  const judged = (response: AxiosResponse, sending: Sending | undefined): sending is Sending => {
    if (!sending?.allowed) return false;
    const from = sending.finalUrl ?? answeredFrom(response);
    return from === undefined || policy.target(from) !== null;
  };

  /**
   * What an answer to a request sent with a DPoP proof says: `retry` when it is a
   * `use_dpop_nonce` challenge, the first for this attempt (send once more, with the nonce
   * it brought: no refresh, and the statechart never hears of it); `asIs` when it says
   * nothing about the token: a challenge again, a body that cannot be sent again, or an
   * answer that came from another URL than the proof names (a redirect: no refresh can make
   * that proof valid). Its nonce is remembered for its origin whatever it says.
   */
  const proofVerdict = (response: AxiosResponse, sending: Sending): 'retry' | 'asIs' | 'judge' => {
    const signed = sending.signedUrl!;
    const from = sending.finalUrl ?? answeredFrom(response) ?? signed;
    const challenged = dpop!.loaded!.answered(from, response.status, (name) => headerOf(response, name));
    if (challenged && !sending.nonceRetried && !isOneShotStream(response.config.data)) return 'retry';
    return challenged || withoutQuery(from) !== withoutQuery(signed) ? 'asIs' : 'judge';
  };
  /** Send the attempt once more, with the same token and a new proof (its nonce now known). */
  const retryWithNonce = (config: InternalAxiosRequestConfig, sending: Sending) => {
    sending.nonceRetried = true;
    sending.replaying = true;
    return instance.request(config);
  };

  /** Take the token out of what reaches the app, and forget the request (sending `error.config` again gets a fresh token). */
  const forget = (config: InternalAxiosRequestConfig, sending: Sending) => {
    if (sending.attached !== undefined && config.headers.get('authorization') === sending.attached) config.headers.delete('authorization');
    if (sending.dpopAdapter !== undefined) {
      config.headers.delete('dpop');
      if (config.adapter === sending.dpopAdapter) restoreAdapter(config, sending);
    }
    config.transformRequest = withoutStep(config.transformRequest, stepOf(config));
    config.beforeRedirect = sending.appBeforeRedirect as InternalAxiosRequestConfig['beforeRedirect'];
    if (config.beforeRedirect === undefined) delete config.beforeRedirect;
  };
  const redact = (error: AxiosError, sending: Sending) => {
    const config = error.config;
    let url = sending.finalUrl;
    if (url === undefined && config) {
      try {
        url = instance.getUri(config);
      } catch {
        url = '';
      }
    }
    if (config) forget(config, sending);
    return redactError(error, { method: (config?.method ?? 'get').toUpperCase(), url: url ?? '' });
  };

  /** The token was refused: wait for the one refresh, replay once (R7). */
  const replay = async (config: InternalAxiosRequestConfig, sending: Sending, error: AxiosError | undefined) => {
    const cause = error && redact(error, sending);
    if (sending.replayed) throw new UnauthorizedAfterRefreshError(undefined, { cause });
    const tokenVersion = sending.credential?.tokenVersion ?? -1;
    if (isOneShotStream(config.data)) {
      port.reportUnauthorized(tokenVersion);
      throw new NonReplayableBodyError();
    }
    const credential = await port.unauthorized(tokenVersion, signalOf(config));
    if (error) {
      // The error's config was cleaned for the app; the replay sends it again as authchart's.
      config.transformRequest = [...withoutStep(config.transformRequest, undefined), lastStep(sending)];
      markStep((config.transformRequest as Transform[]).at(-1)!, sending);
    }
    sending.credential = credential;
    sending.replayed = true;
    sending.replaying = true;
    // The replay is an attempt of its own: a nonce challenge to it is answered once too.
    sending.nonceRetried = false;
    return instance.request(config);
  };

  const responseId = instance.interceptors.response.use(
    (response) => {
      const sending = sendingOf(response.config);
      if (!judged(response, sending)) return response;
      const proof = sending.signedUrl === undefined ? 'judge' : proofVerdict(response, sending);
      if (proof === 'retry') return retryWithNonce(response.config, sending);
      const asIs = proof === 'asIs';
      const verdict = onResponse
        ? Promise.resolve(onResponse(response, session)).then(() => !asIs && isUnauthorized(response))
        : !asIs && isUnauthorized(response);
      // A sync `false` returns at once: no extra turn on the hot path.
      if (verdict === false) return response;
      return Promise.resolve(verdict).then((refused) => (refused ? replay(response.config, sending, undefined) : response));
    },
    async (error: AxiosError) => {
      const config = error.config;
      const sending = sendingOf(config);
      if (!config || !sending?.allowed) throw error;
      const response = error.response;
      if (!response || !judged(response, sending)) throw redact(error, sending);
      const proof = sending.signedUrl === undefined ? 'judge' : proofVerdict(response, sending);
      if (proof === 'retry') return retryWithNonce(config, sending);
      if (onResponse) await onResponse(response, session);
      if (proof === 'asIs' || !(await isUnauthorized(response))) throw redact(error, sending);
      return replay(config, sending, error);
    },
  );

  return {
    ...sessionApi(session),
    detach() {
      instance.interceptors.request.eject(requestId);
      instance.interceptors.response.eject(responseId);
    },
  };
}
