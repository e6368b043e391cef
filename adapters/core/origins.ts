/**
 * Which URLs may carry the access token: the one origin policy every front end uses, with
 * its cache. It reads no global: a front end that runs in a page says where the page is.
 */
import { InvalidOptionsError } from './errors.js';

/**
 * Which URLs get the access token: exact origins, or a predicate over the parsed URL.
 * @example ['https://api.example.com', 'https://uploads.example.com']
 * @example (url) => url.protocol === 'https:' && url.hostname.endsWith('.example.com')
 */
export type AllowedOrigins = readonly string[] | ((url: URL) => boolean);

/** Where the code runs, when it runs in a page (or a worker): the front end asks it, the policy never reads globals. */
export interface Page {
  /** The page's own origin (the default allowed origin), or undefined outside a page. */
  origin(): string | undefined;
  /** The base relative URLs resolve against, read at each decision (a `<base>` or a navigation may change it). */
  base(): string | undefined;
}

/** Code that runs in no page (a server, a script): no default origin, no base for relative URLs. */
export const noPage: Page = { origin: () => undefined, base: () => undefined };

export interface OriginPolicy {
  /**
   * The absolute URL to send when `url` (absolute, or relative to the page) may carry the
   * token; null when it may not (not allowed, or not a URL). Send the returned string, not
   * what was given: a relative URL is resolved once, here, so the base cannot change
   * between the decision and the request.
   */
  target(url: string): string | null;
}

/**
 * The scheme and authority of an absolute http(s) URL string, e.g. `https://api.example.com:8443`.
 * In the WHATWG URL parser the authority ends at the first `/`, `?`, `#` or `\`, and what
 * follows never changes the host or port, so this prefix has the same origin as the whole URL.
 * An empty authority (`https:///host`, where the parser skips the extra slash) is not matched.
 */
const SCHEME_AND_AUTHORITY = /^https?:\/\/[^/?#\\]+/i;

/** The prefix of `url` that alone decides its origin (see above), or undefined when `url` is not an absolute http(s) URL of that plain form. */
export function originPrefix(url: string): string | undefined {
  return SCHEME_AND_AUTHORITY.exec(url)?.[0];
}

/** Origins remembered per policy; an app talks to a handful. Past this the memory starts again. */
const MAX_REMEMBERED_ORIGINS = 64;

function exactOrigins(list: readonly string[]): (url: URL) => boolean {
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

/**
 * Build the policy for `allowedOrigins`. Default: the page's own origin; outside a page the
 * origins must be listed. With a list, absolute http(s) URL strings are decided once per
 * scheme and authority (the decision depends on the origin alone) and sent as given; a
 * predicate sees every parsed URL.
 * @example
 * const policy = originPolicy(['https://api.example.com'], page)
 * policy.target('https://api.example.com/me') // 'https://api.example.com/me'
 * policy.target('https://evil.example/me') // null
 */
export function originPolicy(allowed: AllowedOrigins | undefined, page: Page): OriginPolicy {
  let matches: (url: URL) => boolean;
  if (typeof allowed === 'function') {
    matches = allowed;
  } else {
    const list = allowed ?? (page.origin() ? [page.origin()!] : undefined);
    if (!list || list.length === 0) {
      throw new InvalidOptionsError(
        'allowedOrigins is required outside a browser: list the origins that may receive the access token, for instance ["https://api.example.com"].',
      );
    }
    matches = exactOrigins(list);
  }

  const parsed = (url: string): string | null => {
    try {
      const resolved = new URL(url, page.base());
      return matches(resolved) ? resolved.href : null;
    } catch {
      return null;
    }
  };
  if (typeof allowed === 'function') return { target: parsed };

  const byAuthority = new Map<string, boolean>();
  return {
    target(url) {
      const authority = originPrefix(url);
      if (authority === undefined) return parsed(url);
      let decision = byAuthority.get(authority);
      if (decision === undefined) {
        decision = parsed(authority) !== null;
        if (byAuthority.size >= MAX_REMEMBERED_ORIGINS) byAuthority.clear();
        byAuthority.set(authority, decision);
      }
      return decision ? url : null;
    },
  };
}
