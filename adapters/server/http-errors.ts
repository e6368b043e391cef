import { isAuthchartError, SessionExpiredError, type ErrorCode } from '../core/errors.js';

/**
 * The `error` of a JSON error answer. `not_signed_in`: the request carries no session.
 * `session_expired`: the session has ended (sign in again). `unavailable`: the token
 * endpoint or the store cannot be reached now; the session is kept, try again after
 * `Retry-After`. `csrf_rejected`: a cross-site request to a cookie-authenticated route.
 * `bad_request`: a path that leaves the proxied API, or a body over the size limit.
 */
export type ServerErrorCode = 'not_signed_in' | 'session_expired' | 'unavailable' | 'csrf_rejected' | 'bad_request';

/**
 * The body of every error answer the server integrations send: `{ "error": "session_expired", "code": "SESSION_EXPIRED" }`.
 * `code` is the authchart {@link ErrorCode} behind it, when there is one. Never a token.
 */
export interface ServerErrorBody {
  error: ServerErrorCode;
  code?: ErrorCode;
}

/** An error answer: status, JSON body and headers. */
export interface HttpFailure {
  status: number;
  body: ServerErrorBody;
  headers: Record<string, string>;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } as const;

/** Codes that mean "not now, the session is kept": answered 503 with Retry-After. */
const UNAVAILABLE: ReadonlySet<string> = new Set([
  'REFRESH_UNAVAILABLE',
  'REDIS_UNAVAILABLE',
  'STORE_UNAVAILABLE',
  'QUEUE_TIMEOUT',
  'LOCK_TIMEOUT',
  'REFRESH_FAILED',
  'INVALID_TOKEN_RESPONSE',
  'DISPOSED',
]);

/** An error answer with the JSON headers. */
export function failure(status: number, body: ServerErrorBody, headers: Record<string, string> = {}): HttpFailure {
  return { status, body, headers: { ...JSON_HEADERS, ...headers } };
}

/** The Retry-After a failure carries (the token endpoint's own, through `cause`), in whole seconds. */
function retryAfterOf(error: unknown, fallbackSeconds: number): number {
  for (let current = error, depth = 0; current && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    const ms = (current as { retryAfterMs?: unknown }).retryAfterMs;
    if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return Math.max(1, Math.ceil(ms / 1000));
  }
  return fallbackSeconds;
}

/**
 * The answer for an error met while getting a request's token: 401 `session_expired`,
 * 503 `unavailable` with `Retry-After` (the token endpoint's own when it sent one), or
 * null for anything that is not authchart's (left to the framework's error handling).
 * @example
 * const answer = httpFailureOf(error)
 * if (answer) return Response.json(answer.body, { status: answer.status, headers: answer.headers })
 */
export function httpFailureOf(error: unknown, options: { retryAfterSeconds?: number } = {}): HttpFailure | null {
  if (!isAuthchartError(error)) return null;
  if ((error as { notSignedIn?: unknown }).notSignedIn === true) return notSignedIn();
  if (error.code === 'SESSION_EXPIRED') return failure(401, { error: 'session_expired', code: error.code });
  if (UNAVAILABLE.has(error.code)) {
    const seconds = retryAfterOf(error, options.retryAfterSeconds ?? 1);
    return failure(503, { error: 'unavailable', code: error.code }, { 'retry-after': String(seconds) });
  }
  return null;
}

/** The 401 for a request without a session. */
export const notSignedIn = (): HttpFailure => failure(401, { error: 'not_signed_in' });

/**
 * The request carries no session (no cookie, or one that is not ours). A
 * `SESSION_EXPIRED` error, so code that handles ended sessions handles it too; answered
 * 401 `not_signed_in`.
 */
export class NotSignedInError extends SessionExpiredError {
  readonly notSignedIn = true;
  constructor() {
    super('This request carries no session; sign in.');
    this.name = 'NotSignedInError';
  }
}
