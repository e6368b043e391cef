import { InvalidOptionsError } from '../core/errors.js';

/** Which URLs get the bearer token: exact origins, or a predicate. */
export type AllowedOrigins = readonly string[] | ((url: URL) => boolean);

/** The page's own origin in a browser; undefined elsewhere. */
function pageOrigin(): string | undefined {
  const location = (globalThis as { location?: { origin?: string; protocol?: string } }).location;
  return location && (location.protocol === 'http:' || location.protocol === 'https:') ? location.origin : undefined;
}

/** The base that relative URLs resolve against: the page in a browser. */
export function pageBase(): string | undefined {
  return (globalThis as { location?: { href?: string } }).location?.href;
}

/**
 * Build the check that decides whether a URL may carry the token. Default: the page's own
 * origin in a browser; outside a browser the origins must be listed.
 */
export function originMatcher(allowed: AllowedOrigins | undefined): (url: URL) => boolean {
  if (typeof allowed === 'function') return allowed;
  const list = allowed ?? (pageOrigin() ? [pageOrigin()!] : undefined);
  if (!list || list.length === 0) {
    throw new InvalidOptionsError(
      'allowedOrigins is required outside a browser: list the origins that may receive the access token, for instance ["https://api.example.com"].',
    );
  }
  const origins = new Set(
    list.map((entry) => {
      let origin: string;
      try {
        origin = new URL(entry).origin;
      } catch {
        origin = 'null';
      }
      if (origin === 'null') throw new InvalidOptionsError(`allowedOrigins entry "${entry}" is not an origin like "https://api.example.com".`);
      return origin;
    }),
  );
  return (url) => origins.has(url.origin);
}
