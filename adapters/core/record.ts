/**
 * The stored token record: one format for every store that serialises one (Web Storage,
 * IndexedDB, Redis, and third-party drivers). A record is validated on every read: corrupt
 * or foreign data reads as "no tokens", never as a crash.
 */
import { isOlderToken } from './expiry.js';
import type { StoredTokens, TokenSet } from './ports.js';

/** Format version of a stored record. A record of another format reads as "no tokens". */
export const RECORD_FORMAT = 1;

/** The stored form of a token type: `'DPoP'` or `'Bearer'` whatever the case given, undefined for anything else. */
export function normalizeTokenType(value: unknown): 'DPoP' | 'Bearer' | undefined {
  if (typeof value !== 'string') return undefined;
  const lower = value.toLowerCase();
  return lower === 'dpop' ? 'DPoP' : lower === 'bearer' ? 'Bearer' : undefined;
}

/** Copy only the token fields, so nothing else a caller passed ends up stored. */
export function pickTokens(tokens: TokenSet): TokenSet {
  const picked: TokenSet = { accessToken: tokens.accessToken };
  if (tokens.refreshToken !== undefined) picked.refreshToken = tokens.refreshToken;
  if (tokens.expiresAt !== undefined) picked.expiresAt = tokens.expiresAt;
  const tokenType = normalizeTokenType(tokens.tokenType);
  if (tokenType) picked.tokenType = tokenType;
  return picked;
}

/** The stored form of a record (what {@link validateRecord} accepts back). */
export function serializeRecord(record: StoredTokens): Record<string, unknown> {
  return { format: RECORD_FORMAT, ...record };
}

/** Validate a stored record object; anything unexpected is null. */
export function validateRecord(value: unknown): StoredTokens | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.format !== RECORD_FORMAT) return null;
  if (typeof v.accessToken !== 'string' || v.accessToken === '') return null;
  if (v.refreshToken !== undefined && typeof v.refreshToken !== 'string') return null;
  if (v.expiresAt !== undefined && !(typeof v.expiresAt === 'number' && Number.isFinite(v.expiresAt))) return null;
  if (v.tokenType !== undefined && v.tokenType !== 'DPoP' && v.tokenType !== 'Bearer') return null;
  if (!(typeof v.version === 'number' && Number.isInteger(v.version) && v.version > 0)) return null;
  const record: StoredTokens = { accessToken: v.accessToken, version: v.version };
  if (typeof v.refreshToken === 'string') record.refreshToken = v.refreshToken;
  if (typeof v.expiresAt === 'number') record.expiresAt = v.expiresAt;
  if (typeof v.tokenType === 'string') record.tokenType = v.tokenType;
  return record;
}

/** Validate a stored JSON record; anything unexpected is null. */
export function parseRecord(raw: string | null): StoredTokens | null {
  if (raw === null) return null;
  try {
    return validateRecord(JSON.parse(raw));
  } catch {
    return null;
  }
}

/**
 * `ours` (which carries the live refresh token) with the newer of the two access tokens, by
 * JWT times; with opaque ones, ours. The expiry and the token type go with the access token
 * they describe (R15).
 */
export function withNewerAccess(ours: TokenSet, theirs: TokenSet): TokenSet {
  if (!isOlderToken(ours.accessToken, theirs.accessToken)) return ours;
  const out: TokenSet = { ...ours, accessToken: theirs.accessToken };
  if (theirs.expiresAt !== undefined) out.expiresAt = theirs.expiresAt;
  else delete out.expiresAt;
  if (theirs.tokenType !== undefined) out.tokenType = theirs.tokenType;
  else delete out.tokenType;
  return out;
}
