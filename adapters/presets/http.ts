import { InvalidTokenResponseError, type RefreshError, type RotatedTokens } from '../core/errors.js';
import { httpRefreshError } from '../core/http-failure.js';
import type { RefreshedTokens } from '../core/ports.js';

/**
 * Read a refresh endpoint's error answer into a {@link RefreshError}, classified by status
 * (R5). Only short code fields are kept (`error_code`, `code`, `error`), never the
 * body: it may hold tokens.
 */
export async function failureFrom(response: Response): Promise<RefreshError> {
  let code: unknown;
  try {
    const body = (await response.json()) as Record<string, unknown>;
    code = ['error_code', 'code', 'error'].map((field) => body[field]).find((value) => typeof value === 'string');
  } catch {
    // Not JSON: the status alone classifies it.
  }
  return httpRefreshError(response.status, code, response.headers.get('retry-after'));
}

/** Where a preset's 2xx answer carries each token field. */
export interface AnswerFields {
  accessToken: string;
  refreshToken: string;
  /** The refresh token must be in every answer (Supabase always rotates). */
  refreshTokenRequired?: boolean;
  /** Lifetime in seconds. */
  expiresIn: string;
  /** Absolute expiry in epoch seconds (Supabase's `expires_at`), used only without a lifetime. */
  expiresAt?: string;
}

/**
 * Read a 2xx answer into tokens, or refuse it with an {@link InvalidTokenResponseError}
 * naming the field. A 2xx answer is a rotation that happened (R11): whatever is refused,
 * a new refresh token (and a usable access token) it carried go with the error as
 * `rotated`, so the session keeps them and never presents the old refresh token again.
 */
export async function readTokenAnswer(response: Response, fields: AnswerFields): Promise<RefreshedTokens> {
  const status = response.status;
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new InvalidTokenResponseError('the body is not JSON', { status });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidTokenResponseError('the body is not a JSON object', { status });
  const b = body as Record<string, unknown>;
  const text = (field: string) => (typeof b[field] === 'string' && b[field] !== '' ? (b[field] as string) : undefined);
  const rotated: RotatedTokens = {};
  const refreshToken = text(fields.refreshToken);
  const accessToken = text(fields.accessToken);
  if (refreshToken) rotated.refreshToken = refreshToken;
  if (accessToken) rotated.accessToken = accessToken;
  const refuse = (problem: string) => new InvalidTokenResponseError(problem, { status, rotated });
  const seconds = (field: string) => {
    const value = b[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw refuse(`"${field}" is not a non-negative number`);
    return value;
  };
  if (!accessToken) throw refuse(`"${fields.accessToken}" is missing or not a string`);
  const rawRefresh = b[fields.refreshToken];
  if (refreshToken === undefined && (fields.refreshTokenRequired || (rawRefresh !== undefined && rawRefresh !== null))) {
    throw refuse(`"${fields.refreshToken}" is ${fields.refreshTokenRequired ? 'missing or ' : ''}not a string`);
  }
  const expiresIn = seconds(fields.expiresIn);
  const expiresAt = fields.expiresAt === undefined ? undefined : seconds(fields.expiresAt);
  const answer: RefreshedTokens = { accessToken };
  if (refreshToken !== undefined) answer.refreshToken = refreshToken;
  if (expiresIn !== undefined) answer.expiresIn = expiresIn;
  else if (expiresAt !== undefined) answer.expiresAt = expiresAt * 1000;
  return answer;
}

export const defaultFetch = (input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init);
