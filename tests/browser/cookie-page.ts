/**
 * The page each tab loads in the cookie suite: an authchart fetch whose refresh token is an
 * httpOnly cookie (`cookieRefresher` + `refreshTokenIn: 'cookie'`), with the cross-tab store
 * and lock, driven by the test through `window.cookieTab`.
 */
import { crossTab } from '../../adapters/cross-tab/index.js';
import { createAuthFetch, type AuthFetch } from '../../adapters/fetch/index.js';
import { cookieRefresher } from '../../adapters/presets/index.js';

declare global {
  interface Window {
    cookieTab: ReturnType<typeof createTab>;
  }
}

function createTab() {
  let authFetch: AuthFetch | undefined;
  return {
    init(options: { crossTab: boolean; backoffBaseMs?: number }) {
      // Without the cross-tab lock and store (the control): each tab refreshes on its own.
      const shared = options.crossTab ? crossTab({ name: 'authchart-cookie-test' }) : { store: undefined, lock: undefined, lockKind: 'none' };
      authFetch = createAuthFetch({
        refresh: cookieRefresher({ url: '/auth/refresh' }),
        refreshTokenIn: 'cookie',
        store: shared.store,
        lock: shared.lock,
        allowedOrigins: [location.origin],
        backoffBaseMs: options.backoffBaseMs,
      });
      return shared.lockKind;
    },
    /** Sign in: the server sets the httpOnly cookie; the page gets the access token only. */
    async login() {
      const response = await fetch('/auth/login', { method: 'POST', credentials: 'include' });
      const body = (await response.json()) as { access_token: string; expires_in: number };
      await authFetch!.login({ accessToken: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 });
    },
    /** Adopt the access token another tab signed in with (tabs without the shared store). */
    adopt: (accessToken: string) => authFetch!.login({ accessToken }),
    accessToken: () => authFetch!.getAccessToken(),
    /** Fire `count` requests at once; resolve with each one's status or error code. */
    async burst(count: number) {
      const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => authFetch!(`/api/tab/${i}`)));
      return results.map((r) => (r.status === 'fulfilled' ? r.value.status : ((r.reason as { code?: string }).code ?? String(r.reason))));
    },
    status: () => authFetch!.getStatus(),
    refresh: () =>
      authFetch!.refresh().then(
        () => 'ok',
        (e: { code?: string }) => e.code ?? String(e),
      ),
    /** What JavaScript can see of the cookies: never the refresh token. */
    cookies: () => document.cookie,
  };
}

window.cookieTab = createTab();
