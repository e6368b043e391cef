/**
 * The page of the Svelte suite, bundled with the Svelte compiler for Chromium. On `/` the
 * test starts a signed-in app through `window.app`; on `/login` the page starts a session
 * without tokens, as a sign-in page does, which must not redirect to itself.
 */
import { mount } from 'svelte';
import { createAuthFetch } from '../../../adapters/fetch/index.js';
import { RefreshError } from '../../../adapters/index.js';
import { oauthRefresher } from '../../../adapters/oauth/index.js';
import App from './App.svelte';

interface StartConfig {
  tokenEndpoint: string;
  api: string;
  tokens: { accessToken: string; refreshToken: string; expiresAt: number };
}

declare global {
  interface Window {
    app: ReturnType<typeof createApp>;
  }
}

const isLoginPage = () => location.pathname === '/login';

function createApp() {
  const seen = { store: [] as string[], rune: [] as string[] };
  let logout: (() => Promise<void>) | undefined;
  return {
    seen,
    start(config: StartConfig) {
      const authFetch = createAuthFetch({
        refresh: oauthRefresher({ tokenEndpoint: config.tokenEndpoint, clientId: 'svelte-tests' }),
        allowedOrigins: [new URL(config.api).origin],
        tokens: config.tokens,
      });
      logout = authFetch.logout;
      mount(App, {
        target: document.body,
        props: { authFetch, api: config.api, ids: [1, 2, 3, 4, 5], onLoggedOut: () => location.assign('/login'), isLoginPage, seen },
      });
    },
    shown: () => [...document.querySelectorAll('li')].map((li) => li.textContent),
    status: () => [document.getElementById('status')?.textContent, document.getElementById('status-current')?.textContent],
    logout: () => logout!(),
  };
}

window.app = createApp();

if (isLoginPage()) {
  // A sign-in page: no tokens yet, so the session starts logged out.
  const authFetch = createAuthFetch({
    refresh: async () => {
      throw new RefreshError({ kind: 'permanent', reason: 'no_session' });
    },
    allowedOrigins: [location.origin],
  });
  mount(App, {
    target: document.body,
    props: { authFetch, api: location.origin, ids: [], onLoggedOut: () => location.assign('/login'), isLoginPage, seen: window.app.seen },
  });
}
