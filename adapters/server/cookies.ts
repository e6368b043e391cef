import { InvalidOptionsError } from '../core/errors.js';

/**
 * Attributes of the cookie that carries the session (its id, or sealed tokens).
 * It is always `HttpOnly`: page scripts never read it.
 * @example
 * { name: 'app.sid', sameSite: 'strict', secure: true, maxAgeSeconds: 7 * 24 * 3600 }
 */
export interface SessionCookieOptions {
  /**
   * The cookie's name.
   * @default 'authchart.sid' (session id), 'authchart.tokens' (sealed tokens)
   */
  name?: string;
  /**
   * Where the browser sends it.
   * @default '/'
   */
  path?: string;
  /**
   * Cross-site behaviour. `lax` keeps the session when a user follows a link from another
   * site; the cross-site check of the proxy refuses the requests Lax still lets through
   * (top-level GET navigations). `strict` also drops it on those navigations.
   * @default 'lax'
   */
  sameSite?: 'lax' | 'strict';
  /**
   * Send it over HTTPS only. Browsers also accept `Secure` cookies from `http://localhost`.
   * Turn it off only for plain-HTTP development on another host name.
   * @default true
   */
  secure?: boolean;
  /**
   * The cookie's domain. Leave it unset (host-only) unless subdomains must share the session.
   * @default undefined
   */
  domain?: string;
  /**
   * Lifetime in seconds; match your refresh token's. `null` for a browser-session cookie.
   * @default 2592000 (30 days)
   */
  maxAgeSeconds?: number | null;
}

export type ResolvedCookieOptions = Required<Omit<SessionCookieOptions, 'domain' | 'maxAgeSeconds'>> & { domain?: string; maxAgeSeconds: number | null };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Fill in the defaults and check the name. */
export function resolveCookieOptions(options: SessionCookieOptions | undefined, defaultName: string): ResolvedCookieOptions {
  const name = options?.name ?? defaultName;
  if (!TOKEN.test(name)) throw new InvalidOptionsError(`cookie.name "${name}" is not a valid cookie name.`);
  const sameSite = options?.sameSite ?? 'lax';
  if (sameSite !== 'lax' && sameSite !== 'strict') throw new InvalidOptionsError('cookie.sameSite must be "lax" or "strict".');
  const maxAgeSeconds = options?.maxAgeSeconds === undefined ? 30 * 24 * 3600 : options.maxAgeSeconds;
  if (maxAgeSeconds !== null && !(Number.isFinite(maxAgeSeconds) && maxAgeSeconds > 0))
    throw new InvalidOptionsError('cookie.maxAgeSeconds must be a positive number of seconds, or null.');
  const resolved: ResolvedCookieOptions = { name, path: options?.path ?? '/', sameSite, secure: options?.secure ?? true, maxAgeSeconds };
  if (options?.domain !== undefined) resolved.domain = options.domain;
  return resolved;
}

/** One cookie's value from a `Cookie` header (the first of that name), or undefined. */
export function readCookie(header: string | null | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return undefined;
}

/** A `Set-Cookie` value that stores `value` (or deletes the cookie when `value` is null). */
export function serializeCookie(options: ResolvedCookieOptions, value: string | null): string {
  const parts = [
    `${options.name}=${value === null ? '' : encodeURIComponent(value)}`,
    `Path=${options.path}`,
    'HttpOnly',
    `SameSite=${options.sameSite === 'lax' ? 'Lax' : 'Strict'}`,
  ];
  if (options.secure) parts.push('Secure');
  if (options.domain) parts.push(`Domain=${options.domain}`);
  if (value === null) parts.push('Max-Age=0', 'Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  else if (options.maxAgeSeconds !== null) parts.push(`Max-Age=${Math.floor(options.maxAgeSeconds)}`);
  return parts.join('; ');
}

/** The attributes in the shape of Next.js' `cookies().set(name, value, attributes)`. */
export function cookieAttributes(options: ResolvedCookieOptions): {
  path: string;
  httpOnly: true;
  sameSite: 'lax' | 'strict';
  secure: boolean;
  domain?: string;
  maxAge?: number;
} {
  const attributes: ReturnType<typeof cookieAttributes> = { path: options.path, httpOnly: true, sameSite: options.sameSite, secure: options.secure };
  if (options.domain) attributes.domain = options.domain;
  if (options.maxAgeSeconds !== null) attributes.maxAge = Math.floor(options.maxAgeSeconds);
  return attributes;
}

/** A new session id: 256 random bits, base64url. */
export function newSessionId(): string {
  const bytes = new Uint8Array(32);
  globalThis.crypto.getRandomValues(bytes);
  return toBase64Url(bytes);
}

export function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return null;
  }
}
