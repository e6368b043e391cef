/**
 * The `exp` claim of a JWT access token, read WITHOUT verifying the token (only to know
 * when to refresh; the server is what verifies it). Undefined for anything that is not a
 * JWT with a numeric `exp`.
 * @example
 * jwtExpiresAt(accessToken) // 1767229200000 (epoch ms) or undefined
 */
export function jwtExpiresAt(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
