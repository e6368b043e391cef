import type { AxiosError, AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { NonReplayableBodyError, UnauthorizedAfterRefreshError } from '../core/errors.js';
import { frontEndOf } from '../core/front-end.js';
import { createSession, sessionApi, type Session, type SessionApi, type SessionOptions } from '../core/session.js';
import { originMatcher, pageBase, type AllowedOrigins } from '../fetch/origins.js';

export interface AuthAxiosOptions extends Partial<SessionOptions> {
  /** An existing session to share (with `authchart/fetch`, React, …). Otherwise one is created from these options. */
  session?: Session;
  /**
   * Origins that may receive the access token. Default: the page's own origin in a browser;
   * elsewhere required. Requests to any other origin are sent untouched.
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * Whether a failed request means "the access token was refused".
   * @default (error) => error.response?.status === 401
   */
  isUnauthorized?: (error: AxiosError) => boolean;
  /**
   * Sees every response (success or error) from an allowed origin; hand tokens a server
   * sent along to `updateTokens` (see `authchart/fetch`'s `onResponse`).
   */
  onResponse?: (response: AxiosResponse, session: Pick<Session, 'updateTokens' | 'refresh'>) => void | Promise<void>;
}

/** The session's API, plus `detach()` to remove the interceptors. */
export interface AuthAxios extends SessionApi {
  /** Remove the interceptors (the session keeps running; `dispose()` stops it). */
  detach(): void;
}

const MARK = Symbol.for('authchart.axios');
interface Mark {
  tokenVersion: number;
  replayed: boolean;
}
type MarkedConfig = InternalAxiosRequestConfig & { [MARK]?: Mark };

function isOneShotStream(data: unknown): boolean {
  if (typeof data !== 'object' || data === null) return false;
  if (typeof ReadableStream !== 'undefined' && data instanceof ReadableStream) return true;
  // A Node.js Readable: consumed by the first send.
  return typeof (data as { pipe?: unknown }).pipe === 'function' && typeof (data as { read?: unknown }).read === 'function';
}

/**
 * Take the bearer token out of an axios error before it reaches the app: errors are
 * logged and serialised (`toJSON()` includes the config), and tokens must not be. The
 * request is marked as not authenticated, so re-sending `error.config` gets a fresh token.
 */
function redact(error: AxiosError): AxiosError {
  const config = error.config as MarkedConfig | undefined;
  if (config?.[MARK]) {
    config.headers.delete('authorization');
    delete config[MARK];
  }
  const request = error.request as { _header?: unknown } | undefined;
  if (request && typeof request._header === 'string') {
    request._header = request._header.replace(/^(authorization:\s*bearer\s+)\S+/im, '$1[redacted]');
  }
  return error;
}

/** Scheme and authority of an absolute http(s) URL string: the WHATWG parser ends the authority at `/`, `?`, `#` or `\`, so this prefix alone decides the origin. */
const SCHEME_AND_AUTHORITY = /^https?:\/\/[^/?#\\]+/i;
/** What axios's `isAbsoluteURL` calls absolute: `scheme://…` or `//…`. */
const AXIOS_ABSOLUTE = /^([a-z][a-z\d+\-.]*:)?\/\//i;

/**
 * The part of the URL axios will send to that decides its origin, read from the config
 * without `instance.getUri()` (which merges the instance defaults into the config once
 * more, the costliest step of the whole interceptor). axios builds the URL as an absolute
 * `url` alone, or `baseURL` + `/` + `url`; joined after that `/`, a relative `url` never
 * reaches the authority. Undefined whenever this reading is not certain (no absolute
 * http(s) base, `allowAbsoluteUrls: false`, a `url` axios would refuse as `http:x`): then
 * `getUri()` decides.
 */
function originPart(config: InternalAxiosRequestConfig, defaults: AxiosInstance['defaults']): string | undefined {
  const url: unknown = config.url;
  if (url !== undefined && typeof url !== 'string') return undefined;
  if (config.allowAbsoluteUrls === false || defaults.allowAbsoluteUrls === false) return undefined;
  if (url !== undefined && AXIOS_ABSOLUTE.test(url)) return SCHEME_AND_AUTHORITY.exec(url)?.[0];
  // axios rejects a relative url that looks like "http:…" (after dropping what the URL parser drops).
  if (url !== undefined && /^https?:/i.test(url.replace(/^[\x00-\x20]+/, '').replace(/[\t\n\r]/g, ''))) return undefined;
  const baseURL: unknown = config.baseURL !== undefined ? config.baseURL : defaults.baseURL;
  return typeof baseURL === 'string' ? SCHEME_AND_AUTHORITY.exec(baseURL)?.[0] : undefined;
}

/** Origins remembered per instance; an app talks to a handful. */
const MAX_REMEMBERED_ORIGINS = 64;

function signalOf(config: InternalAxiosRequestConfig): AbortSignal | undefined {
  const signal = config.signal as AbortSignal | undefined;
  return signal && typeof signal.addEventListener === 'function' ? signal : undefined;
}

/**
 * Add authchart to an axios instance: the request interceptor attaches the bearer token
 * (allowed origins only, waiting if a refresh is under way); the response interceptor
 * turns a 401 into one shared refresh and replays the request once through the same
 * instance. A 401 that arrives while a refresh runs is queued and replayed, never
 * rejected. Works with axios's http (Node) and fetch adapters.
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
  const allowed = originMatcher(options.allowedOrigins);
  const session = options.session ?? createSession(options as SessionOptions);
  const port = frontEndOf(session);
  const isUnauthorized = options.isUnauthorized ?? ((error: AxiosError) => error.response?.status === 401);
  const onResponse = options.onResponse;

  const byAuthority = new Map<string, boolean>();
  const parsedAllowed = (uri: () => string) => {
    try {
      return allowed(new URL(uri(), pageBase()));
    } catch {
      return false;
    }
  };
  const isAllowed = (config: InternalAxiosRequestConfig): boolean => {
    const authority = typeof options.allowedOrigins === 'function' ? undefined : originPart(config, instance.defaults);
    if (authority === undefined) return parsedAllowed(() => instance.getUri(config));
    let decision = byAuthority.get(authority);
    if (decision === undefined) {
      decision = parsedAllowed(() => authority);
      if (byAuthority.size >= MAX_REMEMBERED_ORIGINS) byAuthority.clear();
      byAuthority.set(authority, decision);
    }
    return decision;
  };

  const requestId = instance.interceptors.request.use(async (config: MarkedConfig) => {
    const mark = config[MARK];
    if (mark) return config; // a replay: its token is already set
    if (!isAllowed(config) || config.headers.has('authorization')) return config;
    const credential = await port.credential(signalOf(config));
    config.headers.set('Authorization', `Bearer ${credential.accessToken}`);
    config[MARK] = { tokenVersion: credential.tokenVersion, replayed: false };
    return config;
  });

  const responseId = instance.interceptors.response.use(
    async (response) => {
      if (onResponse && (response.config as MarkedConfig)[MARK]) await onResponse(response, session);
      return response;
    },
    async (error: AxiosError) => {
      const config = error.config as MarkedConfig | undefined;
      const mark = config?.[MARK];
      if (!config || !mark) throw error;
      if (onResponse && error.response) await onResponse(error.response, session);
      if (!isUnauthorized(error)) throw redact(error);
      // Rule 7: replay once; a second 401 is an error, never another refresh.
      if (mark.replayed) throw new UnauthorizedAfterRefreshError(undefined, { cause: redact(error) });
      if (isOneShotStream(config.data)) {
        port.reportUnauthorized(mark.tokenVersion);
        throw new NonReplayableBodyError();
      }
      const credential = await port.unauthorized(mark.tokenVersion, signalOf(config));
      mark.replayed = true;
      mark.tokenVersion = credential.tokenVersion;
      config.headers.set('Authorization', `Bearer ${credential.accessToken}`);
      return instance.request(config);
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
