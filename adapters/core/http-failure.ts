/**
 * How a token endpoint's failed answer is classified (R5): one module for the OAuth
 * refresher and every preset.
 */
import { RefreshError, type RefreshFailureKind } from './errors.js';

/**
 * Parse a Retry-After header (delay-seconds or an HTTP-date) into milliseconds.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Transient HTTP statuses of a token endpoint: 408, 429 and 5xx. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * OAuth error codes that say "try again", whatever the status.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2 (and §4.1.2.1 for temporarily_unavailable; RFC 8628 §3.5 for slow_down)
 */
const TRANSIENT_ERROR_CODES = new Set(['server_error', 'temporarily_unavailable', 'slow_down']);

/**
 * Classify an HTTP status and error code of a failed token call (R5): 408, 429 and 5xx
 * (and the OAuth codes `server_error`, `temporarily_unavailable`, `slow_down`) are
 * transient; `invalid_grant`, `invalid_client` and every other 4xx — with a body or without
 * one — are permanent.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
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
 * A server's error code, if it looks like one: a short word of letters, digits, `_`, `.`
 * and `-` (`invalid_grant`, `refresh_token_already_used`, `token_not_valid`), no segment
 * long enough to be a token. Anything else (`invalid_grant:<a token>`, a JWT, an opaque
 * token echoed back) is dropped: what comes back from here reaches logs, events and errors.
 */
export function safeErrorCode(value: unknown): string | undefined {
  if (typeof value !== 'string' || !/^[A-Za-z][\w.-]{0,47}$/.test(value)) return undefined;
  return value.split(/[_.-]/).every((part) => part.length <= 20) ? value : undefined;
}

/**
 * The {@link RefreshError} of a token endpoint's failed HTTP answer: classified by status
 * and (sanitized) error code, `reason` the code or `HTTP_<status>`, Retry-After honoured.
 * @example
 * throw httpRefreshError(response.status, body.error, response.headers.get('retry-after'))
 */
export function httpRefreshError(status: number, errorCode?: unknown, retryAfter?: string | null): RefreshError {
  const code = safeErrorCode(errorCode);
  return new RefreshError({
    kind: classifyTokenFailure(status, code),
    reason: code ?? `HTTP_${status}`,
    status,
    retryAfterMs: parseRetryAfter(retryAfter),
  });
}
