/**
 * A rotating token server behind msw, and a fetch front end wired to it, for tests.
 * Time is fake (vi.useFakeTimers): the token server and authchart read the same Date.now.
 */
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, vi } from 'vitest';
import { createAuthFetch, type AuthFetch, type AuthFetchOptions } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, testUrls, tokenServerHandlers, type TokenServer, type TokenServerOptions } from '../../adapters/testing/index.js';

export const mock = setupServer();

/** Install msw for the file, and fake timers around every test. */
export function useMockNetwork(): void {
  beforeAll(() => mock.listen({ onUnhandledRequest: 'error' }));
  afterEach(() => mock.resetHandlers());
  afterAll(() => mock.close());
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

export interface Harness {
  server: TokenServer;
  authFetch: AuthFetch;
  /** The refresh token the client was logged in with. */
  initialRefreshToken: string;
  api: (path: string) => string;
}

/** A logged-in client against a fresh rotating token server. */
export async function createHarness(options: { server?: TokenServerOptions; client?: Partial<AuthFetchOptions> } = {}): Promise<Harness> {
  const server = createTokenServer({ accessTokenTtlSeconds: 60, ...options.server });
  mock.use(...tokenServerHandlers(server));
  const login = server.login();
  const authFetch = createAuthFetch({
    refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'authchart-tests' }),
    allowedOrigins: [new URL(testUrls.api).origin],
    tokens: { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + login.expires_in * 1000 },
    ...options.client,
  });
  // The session stores its first tokens asynchronously: let it, so that what a test does
  // next (moving the clock, dispatching a wake event) happens to a session that holds them.
  await vi.advanceTimersByTimeAsync(0);
  return { server, authFetch, initialRefreshToken: login.refresh_token, api: (path) => `${testUrls.api}${path}` };
}

/** Let promise chains and msw's internals run without moving the clock. */
export async function flush(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

/** Settle a promise into an observable outcome without unhandled rejections. */
export function track<T>(promise: Promise<T>) {
  const outcome: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(outcome, { settled: true, value }),
    (error) => Object.assign(outcome, { settled: true, error }),
  );
  return outcome;
}
