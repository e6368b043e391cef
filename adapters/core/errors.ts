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
  /** The token store did not answer within `storeTimeoutMs`, or threw (quota exceeded, private mode). Transient. */
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  /** Redis (token store or refresh lock) did not answer within its bound, or refused the command. Transient. */
  REDIS_UNAVAILABLE: 'REDIS_UNAVAILABLE',
  /**
   * A DPoP proof could not be made (the key store failed or holds a key it cannot read, Web
   * Crypto is missing, the DPoP code could not be loaded). The request was not sent.
   */
  DPOP_UNAVAILABLE: 'DPOP_UNAVAILABLE',
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
    super('SESSION_EXPIRED', message, options);
    this.name = 'SessionExpiredError';
  }
}

export class RefreshUnavailableError extends AuthchartError {
  constructor(options?: { cause?: unknown }) {
    super('REFRESH_UNAVAILABLE', 'The token endpoint is unavailable after every retry; the session is kept, try again later.', options);
    this.name = 'RefreshUnavailableError';
  }
}

export class QueueTimeoutError extends AuthchartError {
  constructor(maxWaitMs: number) {
    super('QUEUE_TIMEOUT', `The request waited ${maxWaitMs} ms for a token refresh (maxWaitMs) and was given up.`);
    this.name = 'QueueTimeoutError';
  }
}

export class UnauthorizedAfterRefreshError extends AuthchartError {
  /** The 401 response of the replay (its body not read). */
  readonly response?: Response;
  constructor(response?: Response, options?: { cause?: unknown }) {
    super('UNAUTHORIZED_AFTER_REFRESH', 'The request was refused with 401 again after it was replayed with a fresh token; it is not retried.', options);
    this.name = 'UnauthorizedAfterRefreshError';
    this.response = response;
  }
}

export class NonReplayableBodyError extends AuthchartError {
  constructor() {
    super(
      'NON_REPLAYABLE_BODY',
      'The request got 401 but its body is a one-shot stream, so it cannot be replayed. Send a string, Blob, FormData, URLSearchParams or ArrayBuffer body, or a Request object.',
    );
    this.name = 'NonReplayableBodyError';
  }
}

export class DisposedError extends AuthchartError {
  constructor() {
    super('DISPOSED', 'The session was disposed.');
    this.name = 'DisposedError';
  }
}

/**
 * A DPoP proof could not be made for a request, or a DPoP key store could not give its key
 * pair. The request was not sent. The message says what to fix.
 */
export class DPoPUnavailableError extends AuthchartError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DPOP_UNAVAILABLE', message, options);
    this.name = 'DPoPUnavailableError';
  }
}

export class InvalidOptionsError extends AuthchartError {
  constructor(message: string) {
    super('INVALID_OPTIONS', message);
    this.name = 'InvalidOptionsError';
  }
}

/** Classification of a refresh failure (R5). */
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
 * A failed refresh. It carries the statechart's failure facts (`RefreshFailure`: `kind`,
 * `code`, `reason`, `status`, `retryAfterMs`, `sessionGone`), so the machine reads it as it
 * is. Refreshers throw it (or any error, which authchart classifies).
 * @example
 * throw new RefreshError({ kind: 'permanent', reason: 'invalid_grant', status: 400 })
 */
export class RefreshError extends AuthchartError {
  readonly kind: RefreshFailureKind;
  /** Why, in one stable word (`code` is the public error code). */
  readonly reason: string;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly sessionGone?: boolean;

  constructor(details: RefreshErrorDetails, message?: string, code: ErrorCode = 'REFRESH_FAILED') {
    super(code, message ?? `Token refresh failed (${details.kind}: ${details.reason}${details.status ? `, HTTP ${details.status}` : ''}).`, {
      cause: details.cause,
    });
    this.name = 'RefreshError';
    this.kind = details.kind;
    this.reason = details.reason;
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    if (details.sessionGone) this.sessionGone = true;
  }
}

/** The refresh lock was not acquired within its bound (`lockTimeoutMs`). Transient. */
export class LockTimeoutError extends RefreshError {
  constructor(timeoutMs: number) {
    super({ kind: 'transient', reason: 'LOCK_TIMEOUT' }, `The refresh lock was not acquired within ${timeoutMs} ms.`, 'LOCK_TIMEOUT');
    this.name = 'LockTimeoutError';
  }
}

/** The error every lock driver rejects with when `timeoutMs` passes. */
export function lockTimeoutError(timeoutMs: number): LockTimeoutError {
  return new LockTimeoutError(timeoutMs);
}

/**
 * The token store did not answer within `storeTimeoutMs`, or threw (a quota, Safari's
 * private mode, an IndexedDB that is gone). Transient: a refresh that meets it backs off and
 * retries, and new tokens it could not store are kept in memory and written later. The
 * cause carries only the store error's name and message.
 */
export class StoreUnavailableError extends RefreshError {
  constructor(operation: string, options?: { cause?: unknown; timeoutMs?: number }) {
    super(
      { kind: 'transient', reason: 'STORE_UNAVAILABLE', cause: options?.cause },
      options?.timeoutMs !== undefined
        ? `The token store did not ${operation} within ${options.timeoutMs} ms (storeTimeoutMs); the session keeps its tokens in memory and tries again.`
        : `The token store failed to ${operation}; the session keeps its tokens in memory and tries again.`,
      'STORE_UNAVAILABLE',
    );
    this.name = 'StoreUnavailableError';
  }
}

/** What a 2xx token answer carried that is worth keeping even when the answer is refused (R11). */
export interface RotatedTokens {
  /** The new refresh token: the server has rotated the old one away. */
  refreshToken?: string;
  /** The new access token, when it is usable as a Bearer token despite the refusal. */
  accessToken?: string;
  /** Its lifetime in seconds, when the answer gave a valid one. */
  expiresIn?: number;
  /** Its `token_type` (`'DPoP'` or `'Bearer'`), when DPoP is on. */
  tokenType?: string;
}

/**
 * The token endpoint answered 2xx with something authchart refuses (no access token, a
 * token type other than Bearer, an id_token that fails validation, HTML…). Transient: it
 * never counts toward logout.
 *
 * A 2xx answer is a rotation that happened (R11): when it carried a new refresh token
 * (or a usable access token), give them as `rotated` and the session keeps them, so the
 * retry never presents the refresh token the server has just rotated away. They are held
 * in a private field: no log, `console.error` or `JSON.stringify` of the error shows them.
 * @example
 * throw new InvalidTokenResponseError('the answer has no access_token', { status: 200, rotated: { refreshToken: body.refresh_token } })
 */
export class InvalidTokenResponseError extends RefreshError {
  readonly #rotated: RotatedTokens | undefined;

  constructor(problem: string, { status, rotated }: { status?: number; rotated?: RotatedTokens } = {}) {
    super(
      { kind: 'transient', reason: 'INVALID_TOKEN_RESPONSE', status },
      `The token endpoint's answer is not a valid token response: ${problem}.`,
      'INVALID_TOKEN_RESPONSE',
    );
    this.name = 'InvalidTokenResponseError';
    this.#rotated = rotated && (rotated.refreshToken || rotated.accessToken) ? { ...rotated } : undefined;
  }

  /** The tokens the refused answer carried, if any (see the class description). */
  static rotatedTokensOf(error: unknown): RotatedTokens | undefined {
    return error instanceof InvalidTokenResponseError ? error.#rotated : undefined;
  }
}

/**
 * Turn anything a refresher threw into a {@link RefreshError}: network errors and timeouts are
 * transient, as is anything unknown (the session is kept; retries are bounded).
 */
export function toRefreshError(error: unknown): RefreshError {
  if (error instanceof RefreshError) return error;
  if (isAuthchartError(error) && typeof (error as unknown as RefreshError).kind === 'string') {
    // A RefreshError of another copy of the package (or realm): keep its facts and its code.
    const e = error as unknown as RefreshError;
    return new RefreshError(
      { kind: e.kind, reason: e.reason ?? 'UNKNOWN', status: e.status, retryAfterMs: e.retryAfterMs, sessionGone: e.sessionGone, cause: error },
      undefined,
      e.code,
    );
  }
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError') return new RefreshError({ kind: 'transient', reason: 'TIMEOUT', cause: error });
  if (error instanceof TypeError) return new RefreshError({ kind: 'transient', reason: 'NETWORK', cause: error });
  return new RefreshError({ kind: 'transient', reason: 'UNKNOWN', cause: error });
}
