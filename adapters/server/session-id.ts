import { createHash } from 'node:crypto';
import { InvalidOptionsError } from '../core/errors.js';

/**
 * The name a shared store gives a session: SHA-256 of its id (base64url, 32 characters), so
 * raw ids never reach the database.
 *
 * An id must be a non-empty, well-formed UTF-16 string. Hashing goes through UTF-8, where
 * every lone surrogate becomes U+FFFD: `'\uD800'`, `'\uDFFF'` and `'\uFFFD'` would share one
 * record, and one user would read another's tokens. Such ids are refused instead.
 * @example
 * hashedSessionId('user-42') // 'k3R…' (32 characters)
 */
export function hashedSessionId(sessionId: unknown, driver: string): string {
  if (typeof sessionId !== 'string' || sessionId === '') throw new InvalidOptionsError(`${driver} needs a sessionId (a non-empty string).`);
  // With the u flag, a surrogate pair is one code point: only lone surrogates match.
  if (/\p{Cs}/u.test(sessionId)) {
    throw new InvalidOptionsError(
      `${driver}: the sessionId is not well-formed UTF-16 (it holds a lone surrogate). Use ids made of whole characters, e.g. random hex or base64url.`,
    );
  }
  return createHash('sha256').update(sessionId, 'utf8').digest('base64url').slice(0, 32);
}
