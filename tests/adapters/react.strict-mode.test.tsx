// @vitest-environment happy-dom
import { cleanup, render, screen } from '@testing-library/react';
import { StrictMode, useEffect, useState } from 'react';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createSession } from '../../adapters/index.js';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { AuthProvider, disposeSharedSession, sharedSession, useAuth, useAuthStatus } from '../../adapters/react/index.js';
import { testUrls } from '../../adapters/testing/index.js';
import { createHarness, useMockNetwork } from '../support/harness.js';
import { actorCounter, advance, Widget } from '../support/react.js';

useMockNetwork();
afterEach(async () => {
  cleanup();
  await disposeSharedSession('strict-mode-test');
});

const WIDGETS = ['revenue', 'users', 'orders', 'latency', 'errors'];

describe('React Strict Mode', () => {
  test('five widgets loading after expiry under StrictMode give one actor and one token call', async () => {
    const actors = actorCounter();
    const { server, authFetch, api } = await createHarness({ client: { inspect: actors.inspect } });
    server.expireAccessTokens();
    server.resetStats();

    render(
      <StrictMode>
        <AuthProvider session={authFetch}>
          {WIDGETS.map((name) => (
            <Widget key={name} name={name} url={api(`/widgets/${name}`)} />
          ))}
        </AuthProvider>
      </StrictMode>,
    );
    await advance(1_000);

    for (const name of WIDGETS) expect(screen.getByTestId(name).textContent).toBe(`ok /api/widgets/${name}`);
    // Strict Mode ran every effect twice: each widget's request went out twice and came back 401.
    expect(server.stats.resourceUnauthorized).toBe(WIDGETS.length * 2);
    expect(server.stats.refreshCalls).toBe(1);
    expect(actors.count).toBe(1);
  });

  test('a component that refreshes on mount under StrictMode makes one token call', async () => {
    const { server, authFetch } = await createHarness();
    server.resetStats();
    function RefreshOnMount() {
      const { refresh } = useAuth();
      const [done, setDone] = useState(0);
      useEffect(() => {
        void refresh().then(() => setDone((n) => n + 1));
      }, [refresh]);
      return <p data-testid="done">{done}</p>;
    }

    render(
      <StrictMode>
        <AuthProvider session={authFetch}>
          <RefreshOnMount />
        </AuthProvider>
      </StrictMode>,
    );
    await advance(1_000);

    // Both effect runs resolved (the second joined the first refresh).
    expect(screen.getByTestId('done').textContent).toBe('2');
    expect(server.stats.refreshCalls).toBe(1);
  });

  test('sharedSession called during a StrictMode render creates the session once', async () => {
    const { server } = await createHarness();
    const actors = actorCounter();
    const login = server.login();
    const factory = vi.fn(() =>
      createAuthFetch({
        refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'authchart-tests' }),
        allowedOrigins: [new URL(testUrls.api).origin],
        tokens: { accessToken: login.access_token, refreshToken: login.refresh_token },
        inspect: actors.inspect,
      }),
    );
    function App() {
      // The worst place to create a session; sharedSession makes it safe.
      const authFetch = sharedSession('strict-mode-test', factory);
      return (
        <AuthProvider session={authFetch}>
          <Status />
        </AuthProvider>
      );
    }
    function Status() {
      return <p data-testid="status">{useAuthStatus()}</p>;
    }

    const { rerender } = render(
      <StrictMode>
        <App />
      </StrictMode>,
    );
    rerender(
      <StrictMode>
        <App />
      </StrictMode>,
    );
    await advance(0);

    expect(factory).toHaveBeenCalledTimes(1);
    expect(actors.count).toBe(1);
    expect(screen.getByTestId('status').textContent).toBe('authenticated');
  });

  test('without sharedSession, a session created in useState under StrictMode starts a second, orphan actor', async () => {
    // Why the provider takes a session created outside React: this is the hazard.
    const { server } = await createHarness();
    const actors = actorCounter();
    const login = server.login();
    function App() {
      const [session] = useState(() =>
        createSession({
          refresh: async () => ({ accessToken: 'unused' }),
          tokens: { accessToken: login.access_token, refreshToken: login.refresh_token },
          inspect: actors.inspect,
        }),
      );
      return <AuthProvider session={session}>{null}</AuthProvider>;
    }

    render(
      <StrictMode>
        <App />
      </StrictMode>,
    );
    await advance(0);

    expect(actors.count).toBe(2);
  });

  test('unmounting and remounting the provider keeps the same running session', async () => {
    const actors = actorCounter();
    const { server, authFetch, api } = await createHarness({ client: { inspect: actors.inspect } });
    const tree = (
      <StrictMode>
        <AuthProvider session={authFetch}>
          <Widget name="orders" url={api('/widgets/orders')} />
        </AuthProvider>
      </StrictMode>
    );
    const first = render(tree);
    await advance(0);
    first.unmount();

    expect(authFetch.session.actor.getSnapshot().status).toBe('active');
    server.expireAccessTokens();
    server.resetStats();
    render(tree);
    await advance(1_000);

    expect(screen.getByTestId('orders').textContent).toBe('ok /api/widgets/orders');
    expect(server.stats.refreshCalls).toBe(1);
    expect(actors.count).toBe(1);
  });
});

describe('hot module reload', () => {
  test('re-executing the module that creates the session gives back the same session', async () => {
    const { server } = await createHarness();
    const login = server.login();
    const counters = { created: 0 };
    Object.assign(globalThis, { __authchartHmrTest: { login, counters } });

    vi.resetModules();
    const first = await import('../support/react-session-module.js');
    vi.resetModules();
    const second = await import('../support/react-session-module.js');

    // The module body ran twice (as Vite's HMR re-runs it); the session was created once.
    expect(first.moduleRuns).not.toBe(second.moduleRuns);
    expect(second.authFetch).toBe(first.authFetch);
    expect(counters.created).toBe(1);
    await disposeSharedSession('hmr-test');
  });
});
