import { classifyTokenFailure, InvalidTokenResponseError, parseRetryAfter, RefreshError } from '../core/errors.js';

/**
 * Read a refresh endpoint's error answer into a {@link RefreshError}, classified by status
 * (rule 5). Only short code fields are kept (`error_code`, `code`, `error`), never the
 * body: it may hold tokens.
 */
export async function failureFrom(response: Response): Promise<RefreshError> {
  let code: string | undefined;
  try {
    const body = (await response.json()) as Record<string, unknown>;
    for (const field of ['error_code', 'code', 'error']) {
      const value = body[field];
      if (typeof value === 'string' && /^[\w.-]{1,64}$/.test(value)) {
        code = value;
        break;
      }
    }
  } catch {
    // Not JSON: the status alone classifies it.
  }
  return new RefreshError({
    kind: classifyTokenFailure(response.status, code),
    reason: code ?? `HTTP_${response.status}`,
    status: response.status,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
  });
}

/** The JSON body of a 2xx answer, or an {@link InvalidTokenResponseError}. */
export async function jsonBody(response: Response): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new InvalidTokenResponseError('the body is not JSON', response.status);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidTokenResponseError('the body is not a JSON object', response.status);
  return body as Record<string, unknown>;
}

/** A required string field, or an {@link InvalidTokenResponseError} naming it. */
export function stringField(body: Record<string, unknown>, field: string, status: number): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') throw new InvalidTokenResponseError(`"${field}" is missing or not a string`, status);
  return value;
}

/** An optional string field. */
export function optionalString(body: Record<string, unknown>, field: string, status: number): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') throw new InvalidTokenResponseError(`"${field}" is not a string`, status);
  return value;
}

/** An optional non-negative number field (seconds). */
export function optionalSeconds(body: Record<string, unknown>, field: string, status: number): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new InvalidTokenResponseError(`"${field}" is not a non-negative number`, status);
  return value;
}

export const defaultFetch = (input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init);
