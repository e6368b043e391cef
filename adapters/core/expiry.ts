/**
 * Time you can trust (R12). An access token's expiry is measured on the local clock
 * from what the server says about its LIFETIME (`expires_in` at receipt, or a JWT's
 * `exp − iat` applied to the local time of receipt). An absolute server time (a JWT `exp`
 * alone, Supabase's `expires_at`, a refresher's `expiresAt`) is used only when nothing
 * else exists, and never to refresh sooner than the floor (`minRefreshIntervalMs`) after
 * receipt. A token that arrives already expired on the local clock (a skewed clock,
 * `expires_in: 0`), or with less than the floor left by an absolute time (a clock ahead by
 * nearly a lifetime), gets no expiry at all: it is used until a 401 says otherwise, never
 * refreshed in a loop.
 */
import type { RefreshedTokens } from './ports.js';

interface JwtTimes {
  exp?: number;
  iat?: number;
}

/** The `exp` and `iat` claims of a JWT, read WITHOUT verifying it (only to time refreshes). */
function jwtTimes(token: string): JwtTimes {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return {};
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='))) as Record<string, unknown>;
    const seconds = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined);
    return { exp: seconds(claims.exp), iat: seconds(claims.iat) };
  } catch {
    return {};
  }
}

/**
 * The `exp` claim of a JWT access token in epoch ms, read WITHOUT verifying the token.
 * @example
 * jwtExpiresAt(accessToken) // 1767229200000 (epoch ms) or undefined
 */
export function jwtExpiresAt(token: string): number | undefined {
  const { exp } = jwtTimes(token);
  return exp === undefined ? undefined : exp * 1000;
}

/**
 * When a JWT was issued (`iat`, else `exp`), to order two tokens of one session: the one
 * issued later is the newer (R15). Undefined for opaque tokens.
 */
export function jwtIssuedAt(token: string): number | undefined {
  const { iat, exp } = jwtTimes(token);
  return iat !== undefined ? iat * 1000 : exp !== undefined ? exp * 1000 : undefined;
}

/** Whether `candidate` is an older JWT than `current` (both JWTs, by `iat`, then `exp`). Opaque tokens are never older. */
export function isOlderToken(candidate: string, current: string): boolean {
  if (candidate === current) return false;
  const a = jwtTimes(candidate);
  const b = jwtTimes(current);
  if (a.iat !== undefined && b.iat !== undefined && a.iat !== b.iat) return a.iat < b.iat;
  if (a.exp !== undefined && b.exp !== undefined) return a.exp < b.exp;
  return false;
}

/** A JWT's lifetime in ms (`exp − iat`), when both claims are there and it is positive. */
function jwtLifetimeMs(token: string): number | undefined {
  const { exp, iat } = jwtTimes(token);
  return exp !== undefined && iat !== undefined && exp > iat ? (exp - iat) * 1000 : undefined;
}

/** An expiry that is not in the future at receipt is no expiry: the token is used until a 401. */
const future = (expiresAt: number | undefined, receivedAt: number) => (expiresAt !== undefined && expiresAt > receivedAt ? expiresAt : undefined);

/**
 * The expiry of tokens a refresher returned, received at `receivedAt` (local clock). An
 * absolute expiry (`expiresAt`, a JWT's `exp` alone) less than `floorMs` ahead is not
 * trusted: a clock ahead by nearly a lifetime would otherwise refresh on every use.
 * @example
 * expiryOfAnswer({ accessToken, expiresIn: 3600 }, Date.now()) // Date.now() + 3600000
 */
export function expiryOfAnswer(answer: RefreshedTokens, receivedAt: number, floorMs = 0): number | undefined {
  if (answer.expiresIn !== undefined) return future(receivedAt + answer.expiresIn * 1000, receivedAt);
  const lifetime = jwtLifetimeMs(answer.accessToken);
  if (lifetime !== undefined) return receivedAt + lifetime;
  return future(answer.expiresAt ?? jwtExpiresAt(answer.accessToken), receivedAt + floorMs);
}

/**
 * The expiry of tokens the app hands over (`login`, `updateTokens`, `tokens`): the app's
 * own `expiresAt` as given (it computed it, or says the token is expired), else the JWT's
 * lifetime from now, else its absolute `exp` when more than `floorMs` ahead.
 */
export function expiryOfTokenSet(tokens: { accessToken: string; expiresAt?: number }, receivedAt: number, floorMs = 0): number | undefined {
  if (tokens.expiresAt !== undefined) return tokens.expiresAt;
  const lifetime = jwtLifetimeMs(tokens.accessToken);
  if (lifetime !== undefined) return receivedAt + lifetime;
  return future(jwtExpiresAt(tokens.accessToken), receivedAt + floorMs);
}

/**
 * When to refresh ahead of an expiry (R8): `leewayMs` before it, never more than half
 * the token's remaining lifetime before it, and never sooner than `minIntervalMs` after
 * `now`. Null when the expiry is unknown or already past (a past expiry is refreshed when a
 * token is next needed, not by the timer).
 */
export function refreshTime(expiresAt: number | null | undefined, now: number, leewayMs: number, minIntervalMs = 0): number | null {
  if (expiresAt === null || expiresAt === undefined || expiresAt <= now) return null;
  const lifetime = expiresAt - now;
  return Math.max(expiresAt - Math.min(leewayMs, lifetime / 2), now + minIntervalMs);
}
