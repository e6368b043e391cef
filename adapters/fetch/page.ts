import type { Page } from '../core/origins.js';

interface PageGlobals {
  location?: { origin?: string; protocol?: string; href?: string };
  document?: { baseURI?: string };
}

/**
 * The page (or worker) this code runs in, as the front ends see it. Relative URLs resolve
 * against the document's base URL, as `fetch` and `XMLHttpRequest` resolve them (a `<base>`
 * element changes it), else against the location.
 */
export const browserPage: Page = {
  origin() {
    const { location } = globalThis as PageGlobals;
    return location && (location.protocol === 'http:' || location.protocol === 'https:') ? location.origin : undefined;
  },
  base() {
    const { document, location } = globalThis as PageGlobals;
    return document?.baseURI ?? location?.href;
  },
};

/**
 * Whether `fetch` here follows redirects out of sight: in a page or a worker a
 * `redirect: 'manual'` answer is opaque (no status, no Location), so redirects cannot be
 * followed by hand. Everywhere else (Node, Deno, Bun, edge workers) they can.
 */
export function redirectsAreOpaque(): boolean {
  const scope = globalThis as { document?: unknown; WorkerGlobalScope?: unknown };
  return scope.document !== undefined || scope.WorkerGlobalScope !== undefined;
}
