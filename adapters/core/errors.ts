/**
 * Typed errors. Every error authchart throws is an {@link AuthchartError} with a stable
 * `code` from {@link ErrorCode}. Use {@link isAuthchartError} rather than `instanceof`:
 * it also recognises errors from another realm (an iframe, a second copy of the package).
 *
 * Messages never contain a token.
 */

export const ErrorCode = {
  /** The session has ended (logout, or the refresh token was rejected for good). Sign in again. */
  SESSION_EXPIRED: 'SESSION_EXPIRED',
  /** The token endpoint kept failing transiently (network, 5xx, 429); the session is kept, try later. */
  REFRESH_UNAVAILABLE: 'REFRESH_UNAVAILABLE',
  /** A request waited longer than `maxWaitMs` for a refresh. */
  QUEUE_TIMEOUT: 'QUEUE_TIMEOUT',
  /** A request replayed with a fresh token was refused with 401 again; it is not retried. */
  UNAUTHORIZED_AFTER_REFRESH: 'UNAUTHORIZED_AFTER_REFRESH',
  /** The token endpoint answered, but not with a usable token response. */
  INVALID_TOKEN_RESPONSE: 'INVALID_TOKEN_RESPONSE',
  /** A refresh failed; see `kind` (`transient` or `permanent`) and `reason`. */
  REFRESH_FAILED: 'REFRESH_FAILED',
  /** The request body was a one-shot stream, so the request cannot be replayed after a 401. */
  NON_REPLAYABLE_BODY: 'NON_REPLAYABLE_BODY',
  /** The refresh lock could not be acquired within its bound. */
  LOCK_TIMEOUT: 'LOCK_TIMEOUT',
  /** The session was disposed while the request waited. */
  DISPOSED: 'DISPOSED',
  /** The options given are invalid. */
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  /** Redis (token store or refresh lock) did not answer within its bound, or refused the command. Transient. */
  REDIS_UNAVAILABLE: 'REDIS_UNAVAILABLE',
  /** A shared token store or refresh lock (PostgreSQL, …) did not answer within its bound, or refused the query. Transient. */
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const BRAND = 'authchart.error';
const BRAND_SYMBOL: unique symbol = Symbol.for(BRAND) as never;

/** Base class of every error authchart throws. */
export class AuthchartError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Present on every authchart error, so that realms and copies agree (see {@link isAuthchartError}). */
  readonly [BRAND_SYMBOL] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[authchart] ${message}`, options);
    this.name = 'AuthchartError';
    this.code = code;
  }
}

/**
 * Whether `error` is an authchart error, optionally with the given code. Works across
 * realms, where `instanceof` does not.
 * @example
 * try { await authFetch('/api/me') } catch (error) {
 *   if (isAuthchartError(error, 'SESSION_EXPIRED')) redirectToLogin()
 * }
 */
export function isAuthchartError<C extends ErrorCode>(error: unknown, code?: C): error is AuthchartError & { code: C } {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as Record<symbol, unknown>)[Symbol.for(BRAND)] !== true) return false;
  return code === undefined || (error as AuthchartError).code === code;
}

export class SessionExpiredError extends AuthchartError {
  constructor(message = 'The session has ended; sign in again.', options?: { cause?: unknown }) {
    super(ErrorCode.SESSION_EXPIRED, message, options);
    this.name = 'SessionExpiredError';
  }
}

export class RefreshUnavailableError extends AuthchartError {
  constructor(options?: { cause?: unknown }) {
    super(
      ErrorCode.REFRESH_UNAVAILABLE,
      'The token endpoint is unavailable after every retry; the session is kept, try again later.',
      options,
    );
    this.name = 'RefreshUnavailableError';
  }
}

export class QueueTimeoutError extends AuthchartError {
  constructor(maxWaitMs: number) {
    super(ErrorCode.QUEUE_TIMEOUT, `The request waited ${maxWaitMs} ms for a token refresh (maxWaitMs) and was given up.`);
    this.name = 'QueueTimeoutError';
  }
}

export class UnauthorizedAfterRefreshError extends AuthchartError {
  /** The 401 response of the replay (its body not read). */
  readonly response?: Response;
  constructor(response?: Response, options?: { cause?: unknown }) {
    super(
      ErrorCode.UNAUTHORIZED_AFTER_REFRESH,
      'The request was refused with 401 again after it was replayed with a fresh token; it is not retried.',
      options,
    );
    this.name = 'UnauthorizedAfterRefreshError';
    this.response = response;
  }
}

export class NonReplayableBodyError extends AuthchartError {
  constructor() {
    super(
      ErrorCode.NON_REPLAYABLE_BODY,
      'The request got 401 but its body is a one-shot stream, so it cannot be replayed. Send a string, Blob, FormData, URLSearchParams or ArrayBuffer body, or a Request object.',
    );
    this.name = 'NonReplayableBodyError';
  }
}

export class DisposedError extends AuthchartError {
  constructor() {
    super(ErrorCode.DISPOSED, 'The session was disposed.');
    this.name = 'DisposedError';
  }
}

export class InvalidOptionsError extends AuthchartError {
  constructor(message: string) {
    super(ErrorCode.INVALID_OPTIONS, message);
    this.name = 'InvalidOptionsError';
  }
}

/** Classification of a refresh failure (DESIGN rule 5). */
export type RefreshFailureKind = 'transient' | 'permanent';

export interface RefreshErrorDetails {
  kind: RefreshFailureKind;
  /** Short stable reason: `NETWORK`, `TIMEOUT`, `HTTP_503`, an OAuth error code such as `invalid_grant`, … */
  reason: string;
  status?: number;
  retryAfterMs?: number;
  /** There is no refresh token to present: the session cannot be refreshed at all. */
  sessionGone?: boolean;
  cause?: unknown;
}

/**
 * A failed refresh. Refreshers throw it (or any error, which authchart classifies) and the
 * statechart reads `kind`, `reason` (as `code`), `status`, `retryAfterMs`.
 * @example
 * throw new RefreshError({ kind: 'permanent', reason: 'invalid_grant', status: 400 })
 */
export class RefreshError extends AuthchartError {
  readonly kind: RefreshFailureKind;
  readonly reason: string;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly sessionGone?: boolean;

  constructor(details: RefreshErrorDetails, message?: string, code: ErrorCode = ErrorCode.REFRESH_FAILED) {
    super(
      code,
      message ??
        `Token refresh failed (${details.kind}: ${details.reason}${details.status ? `, HTTP ${details.status}` : ''}).`,
      { cause: details.cause },
    );
    this.name = 'RefreshError';
    this.kind = details.kind;
    this.reason = details.reason;
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    if (details.sessionGone) this.sessionGone = true;
  }

  /** The machine reads failures by these fields; `code` there is the reason. */
  toFailure() {
    return { kind: this.kind, code: this.reason, status: this.status, retryAfterMs: this.retryAfterMs, sessionGone: this.sessionGone };
  }
}

/** The token endpoint answered 2xx with something that is not a valid token response. Transient. */
export class InvalidTokenResponseError extends RefreshError {
  constructor(problem: string, status?: number) {
    super(
      { kind: 'transient', reason: ErrorCode.INVALID_TOKEN_RESPONSE, status },
      `The token endpoint's answer is not a valid token response: ${problem}.`,
      ErrorCode.INVALID_TOKEN_RESPONSE,
    );
    this.name = 'InvalidTokenResponseError';
  }
}

/** Parse a Retry-After header (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Transient HTTP statuses of a token endpoint (rule 5): 408, 429 and 5xx. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** OAuth error codes that say "try again", whatever the status. */
const TRANSIENT_ERROR_CODES = new Set(['server_error', 'temporarily_unavailable', 'slow_down']);

/**
 * Classify an HTTP status and error code of a failed token call (DESIGN rule 5):
 * 408, 429 and 5xx (and the OAuth codes `server_error`, `temporarily_unavailable`,
 * `slow_down`) are transient; `invalid_grant`, `invalid_client` and every other 4xx are
 * permanent.
 * @example
 * classifyTokenFailure(503) // 'transient'
 * classifyTokenFailure(400, 'invalid_grant') // 'permanent'
 */
export function classifyTokenFailure(status: number, errorCode?: string): RefreshFailureKind {
  if (isTransientStatus(status)) return 'transient';
  if (errorCode && TRANSIENT_ERROR_CODES.has(errorCode)) return 'transient';
  return 'permanent';
}

/**
 * Turn anything a refresher threw into a {@link RefreshError}: network errors and timeouts are
 * transient, as is anything unknown (the session is kept; retries are bounded).
 */
export function toRefreshError(error: unknown): RefreshError {
  if (error instanceof RefreshError) return error;
  if (isAuthchartError(error) && typeof (error as unknown as RefreshError).kind === 'string') {
    const e = error as unknown as RefreshError;
    return new RefreshError({ kind: e.kind, reason: e.reason ?? 'UNKNOWN', status: e.status, retryAfterMs: e.retryAfterMs, sessionGone: e.sessionGone, cause: error });
  }
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError') return new RefreshError({ kind: 'transient', reason: 'TIMEOUT', cause: error });
  if (error instanceof TypeError) return new RefreshError({ kind: 'transient', reason: 'NETWORK', cause: error });
  return new RefreshError({ kind: 'transient', reason: 'UNKNOWN', cause: error });
}

/**
 * Redis did not answer (connection down, restarting, or slower than the bound). Transient:
 * a refresh that meets it backs off and retries; a request that meets it outside a refresh
 * gets it as is. The cause carries the client's error name and message only (never the
 * command's arguments, which may hold tokens).
 */
export class RedisUnavailableError extends RefreshError {
  constructor(operation: string, options?: { cause?: unknown }) {
    super(
      { kind: 'transient', reason: ErrorCode.REDIS_UNAVAILABLE, cause: options?.cause },
      `Redis did not answer or refused (${operation}). Check the connection; refreshes are retried with backoff.`,
      ErrorCode.REDIS_UNAVAILABLE,
    );
    this.name = 'RedisUnavailableError';
  }
}

/** The error every lock driver rejects with when `timeoutMs` passes (transient, code `LOCK_TIMEOUT`). */
export function lockTimeoutError(timeoutMs: number): RefreshError {
  return new RefreshError({ kind: 'transient', reason: ErrorCode.LOCK_TIMEOUT }, `The refresh lock was not acquired within ${timeoutMs} ms.`, ErrorCode.LOCK_TIMEOUT);
}
