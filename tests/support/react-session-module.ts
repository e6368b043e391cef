/**
 * A module that creates the app's session the way the README recommends; the hot-reload
 * test imports it twice with `vi.resetModules()` to re-execute it, as Vite's HMR does.
 */
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { sharedSession } from '../../adapters/react/index.js';
import { testUrls } from '../../adapters/testing/index.js';

const fixture = (
  globalThis as unknown as {
    __authchartHmrTest: { login: { access_token: string; refresh_token: string }; counters: { created: number } };
  }
).__authchartHmrTest;

/** Differs on every execution of this module. */
export const moduleRuns = Symbol('module run');

export const authFetch = sharedSession('hmr-test', () => {
  fixture.counters.created++;
  return createAuthFetch({
    refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'authchart-tests' }),
    allowedOrigins: [new URL(testUrls.api).origin],
    tokens: { accessToken: fixture.login.access_token, refreshToken: fixture.login.refresh_token },
  });
});
