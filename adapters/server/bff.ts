/**
 * Backend-for-frontend, framework-neutral: the browser holds only a session cookie and the
 * server forwards its API calls with the bearer token attached. Express, Fastify and
 * Next.js bind these helpers to their request and response objects.
 */
import { InvalidOptionsError, isAuthchartError, UnauthorizedAfterRefreshError } from '../core/errors.js';
import { positiveOption } from '../core/options.js';
import { failure, type HttpFailure } from './http-errors.js';

/**
 * The cross-site check of the proxy (CSRF). The session cookie is `SameSite=Lax`, so other
 * sites' forms, fetches and iframes do not carry it; Lax still sends it on a top-level GET
 * navigation, and "same-site" is wider than "same-origin" (a sibling subdomain). So every
 * proxied request is also checked: its `Sec-Fetch-Site` must be `same-origin` (or `none`,
 * a URL the user typed), or, from a browser that sends no fetch metadata, its `Origin`
 * must be the app's own (or one listed). Requests with neither (curl, servers) are not
 * browser requests and pass. Refused requests get 403 `csrf_rejected`.
 * @example
 * { allowedOrigins: ['https://admin.example.com'], requireHeader: 'x-requested-with' }
 */
export interface CsrfOptions {
  /**
   * Origins other than the app's own whose pages may call the proxy.
   * @default []
   */
  allowedOrigins?: readonly string[];
  /**
   * Also require this request header on POST, PUT, PATCH and DELETE (a header another
   * site can only send after a CORS preflight, which the proxy never grants).
   * @default null
   */
  requireHeader?: string | null;
}

/**
 * Options of a backend-for-frontend proxy.
 * @example
 * { upstream: 'https://api.example.com/v1', csrf: { requireHeader: 'x-requested-with' }, maxBodyBytes: 256 * 1024 }
 */
export interface BffOptions {
  /**
   * Base URL of the API behind the proxy: `<mount>/orders?x=1` goes to `<upstream>/orders?x=1`.
   * Paths that would leave it (`..`, another origin) are refused with 400.
   */
  upstream: string;
  /**
   * The cross-site check, or `false` to turn it off (only behind your own equivalent check).
   * @default {} (Sec-Fetch-Site / Origin check, no extra header)
   */
  csrf?: CsrfOptions | false;
  /**
   * Request headers forwarded to the API. Cookies, `Authorization` and `Host` never are.
   * @default ['accept', 'accept-language', 'content-type', 'content-language', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'range']
   */
  requestHeaders?: readonly string[];
  /**
   * Response headers sent back to the browser. `Set-Cookie` never is.
   * @default ['content-type', 'content-language', 'cache-control', 'etag', 'last-modified', 'expires', 'vary', 'retry-after', 'content-range', 'accept-ranges', 'www-authenticate']
   */
  responseHeaders?: readonly string[];
  /**
   * Largest request body forwarded; larger ones get 413.
   * @default 1048576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Bound of one upstream call (replay included); past it the answer is 504.
   * @default 30000
   */
  timeoutMs?: number;
}

/** A checked {@link CsrfOptions}, or false for "no check". */
export interface ResolvedCsrf {
  csrf: false | { allowedOrigins: Set<string>; requireHeader: string | null };
}

export interface ResolvedBff extends ResolvedCsrf {
  base: URL;
  requestHeaders: Set<string>;
  responseHeaders: Set<string>;
  maxBodyBytes: number;
  timeoutMs: number;
}

const DEFAULT_REQUEST_HEADERS = [
  'accept',
  'accept-language',
  'content-type',
  'content-language',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'range',
];
const DEFAULT_RESPONSE_HEADERS = [
  'content-type',
  'content-language',
  'cache-control',
  'etag',
  'last-modified',
  'expires',
  'vary',
  'retry-after',
  'content-range',
  'accept-ranges',
  'www-authenticate',
];
const NEVER_FORWARDED = new Set(['cookie', 'authorization', 'host', 'connection', 'content-length', 'transfer-encoding', 'proxy-authorization']);
const NEVER_RETURNED = new Set(['set-cookie', 'set-cookie2', 'connection', 'transfer-encoding', 'content-encoding', 'content-length', 'keep-alive']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function originOf(entry: string, what: string): string {
  let origin = 'null';
  try {
    origin = new URL(entry).origin;
  } catch {
    // reported below
  }
  if (origin === 'null') throw new InvalidOptionsError(`${what} "${entry}" is not an http(s) URL.`);
  return origin;
}

/** Check the cross-site options once. */
export function resolveCsrf(options: CsrfOptions | false | undefined): ResolvedCsrf {
  if (options === false) return { csrf: false };
  return {
    csrf: {
      allowedOrigins: new Set((options?.allowedOrigins ?? []).map((entry) => originOf(entry, 'csrf.allowedOrigins entry'))),
      requireHeader: options?.requireHeader ? options.requireHeader.toLowerCase() : null,
    },
  };
}

/** Check the options once, when the proxy is created. */
export function resolveBff(options: BffOptions): ResolvedBff {
  if (!options || typeof options.upstream !== 'string')
    throw new InvalidOptionsError('The proxy needs `upstream`, the base URL of the API, e.g. "https://api.example.com/v1".');
  originOf(options.upstream, 'upstream');
  const base = new URL(options.upstream);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  base.search = '';
  base.hash = '';
  const { csrf } = resolveCsrf(options.csrf);
  const lower = (list: readonly string[]) => new Set(list.map((name) => name.toLowerCase()));
  return {
    base,
    csrf,
    requestHeaders: new Set([...lower(options.requestHeaders ?? DEFAULT_REQUEST_HEADERS)].filter((name) => !NEVER_FORWARDED.has(name))),
    responseHeaders: new Set([...lower(options.responseHeaders ?? DEFAULT_RESPONSE_HEADERS)].filter((name) => !NEVER_RETURNED.has(name))),
    maxBodyBytes: positiveOption('maxBodyBytes', options.maxBodyBytes, 1024 * 1024, 'number of bytes'),
    timeoutMs: positiveOption('timeoutMs', options.timeoutMs, 30_000, 'number of milliseconds'),
  };
}

/** Read a header whatever the framework's shape (a string, several, or absent). */
export type HeaderReader = (name: string) => string | undefined;

/**
 * The cross-site check (see {@link CsrfOptions}). Returns null when the request may pass,
 * else the 403 answer.
 */
export function csrfFailure(bff: ResolvedCsrf, method: string, header: HeaderReader, ownOrigin: string): HttpFailure | null {
  if (!bff.csrf) return null;
  const refuse = () => failure(403, { error: 'csrf_rejected' });
  const site = header('sec-fetch-site');
  const allowed = (origin: string) => origin === ownOrigin || (bff.csrf !== false && bff.csrf.allowedOrigins.has(origin));
  if (site !== undefined) {
    if (site === 'cross-site' || site === 'same-site') {
      const origin = header('origin');
      // A listed origin is a deliberate exception (an admin app on a sibling host).
      if (!origin || !allowed(origin)) return refuse();
    } else if (site !== 'same-origin' && site !== 'none') {
      return refuse();
    }
  } else {
    const origin = header('origin');
    if (origin !== undefined && !allowed(origin)) return refuse();
  }
  if (bff.csrf.requireHeader && !SAFE_METHODS.has(method.toUpperCase()) && header(bff.csrf.requireHeader) === undefined) return refuse();
  return null;
}

/**
 * The API URL for `path` (what follows the proxy's mount point, with its query), or null
 * when it would leave `upstream` (`..`, an absolute URL, another origin).
 */
export function upstreamUrl(bff: ResolvedBff, path: string): URL | null {
  const relative = path.replace(/^\/+/, '');
  // A scheme or a backslash could make the parser treat it as another authority.
  if (/^[a-z][a-z0-9+.-]*:/i.test(relative) || relative.includes('\\')) return null;
  let url: URL;
  try {
    url = new URL(relative, bff.base);
  } catch {
    return null;
  }
  if (url.origin !== bff.base.origin) return null;
  const basePath = bff.base.pathname;
  if (!`${url.pathname}/`.startsWith(basePath) && url.pathname !== basePath.slice(0, -1)) return null;
  return url;
}

/** The headers sent to the API: only the allowed ones (never cookies or the browser's Authorization). */
export function forwardedHeaders(bff: ResolvedBff, header: HeaderReader): Headers {
  const headers = new Headers();
  for (const name of bff.requestHeaders) {
    const value = header(name);
    if (value !== undefined) headers.set(name, value);
  }
  return headers;
}

/** The API's headers the browser may see. */
export function returnedHeaders(bff: ResolvedBff, response: Response): [string, string][] {
  const out: [string, string][] = [];
  response.headers.forEach((value, name) => {
    if (bff.responseHeaders.has(name.toLowerCase())) out.push([name, value]);
  });
  return out;
}

/** What a proxied call needs from the framework. */
export interface ProxiedRequest {
  method: string;
  /** What follows the mount point, with the query: `/orders/7?full=1`. */
  path: string;
  header: HeaderReader;
  /** The body, already bounded by `maxBodyBytes` (undefined for GET and HEAD). */
  body?: Uint8Array;
  /** Aborts when the browser goes away. */
  signal?: AbortSignal;
}

/** A 413 for a body over the limit. */
export const bodyTooLarge = (): HttpFailure => failure(413, { error: 'bad_request' });

/**
 * Forward one request with `authFetch` (which attaches the bearer token, and replays once
 * after a 401 with the refreshed one). Resolves with the API's response, or with an error
 * answer: 400 for a path outside `upstream`, 504 past `timeoutMs`, 502 when the API cannot
 * be reached. authchart's own errors (session expired, refresh unavailable) are rethrown
 * for the caller to answer with {@link httpFailureOf}.
 */
export async function forward(
  bff: ResolvedBff,
  request: ProxiedRequest,
  authFetch: (url: string, init: RequestInit) => Promise<Response>,
): Promise<Response | HttpFailure> {
  const url = upstreamUrl(bff, request.path);
  if (!url) return failure(400, { error: 'bad_request' });
  const method = request.method.toUpperCase();
  const timeout = AbortSignal.timeout(bff.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  const init: RequestInit = { method, headers: forwardedHeaders(bff, request.header), signal, redirect: 'manual' };
  if (request.body !== undefined && method !== 'GET' && method !== 'HEAD') init.body = request.body as Uint8Array<ArrayBuffer>;
  try {
    return await authFetch(url.href, init);
  } catch (error) {
    // R7: the API refused the fresh token too; its own answer goes back as it is.
    if (error instanceof UnauthorizedAfterRefreshError && error.response) return error.response;
    if (isAuthchartError(error)) throw error;
    if (timeout.aborted) return failure(504, { error: 'unavailable' });
    return failure(502, { error: 'unavailable' });
  }
}

/** Read a Node request body into one buffer, refusing past `limit` bytes (null then). */
export async function readBody(stream: AsyncIterable<unknown>, limit: number): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : (chunk as Uint8Array);
    size += bytes.byteLength;
    if (size > limit) return null;
    chunks.push(bytes);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

export function isHttpFailure(value: Response | HttpFailure): value is HttpFailure {
  // Not instanceof: a framework may hand out its own Response class.
  return typeof (value as Response).headers?.get !== 'function';
}
