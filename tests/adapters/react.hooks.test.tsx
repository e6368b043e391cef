// @vitest-environment happy-dom
import { act, cleanup, render, renderHook, screen } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, test } from 'vitest';
import { createSession, isAuthchartError } from '../../adapters/index.js';
import { selectIsLoggedOut, selectQueued, selectState } from '../../adapters/machine/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { AuthProvider, useAuth, useAuthFetch, useAuthSelector, useAuthStatus, useSession } from '../../adapters/react/index.js';
import { issuedSecrets, testUrls } from '../../adapters/testing/index.js';
import { createHarness, useMockNetwork } from '../support/harness.js';
import { advance } from '../support/react.js';

useMockNetwork();
afterEach(() => cleanup());

describe('useAuthStatus and useAuthSelector', () => {
  test('the status follows the statechart through a refresh and a logout', async () => {
    const { server, authFetch, api } = await createHarness();
    const seen: string[] = [];
    function Badge() {
      const status = useAuthStatus();
      const state = useAuthSelector(selectState);
      if (seen.at(-1) !== `${status}/${state}`) seen.push(`${status}/${state}`);
      return <p data-testid="badge">{`${status} ${state}`}</p>;
    }
    render(
      <AuthProvider session={authFetch}>
        <Badge />
      </AuthProvider>,
    );
    server.expireAccessTokens();
    server.fault({ type: 'delay', ms: 200 });

    await act(async () => {
      void authFetch(api('/a'));
    });
    await advance(50);
    expect(screen.getByTestId('badge').textContent).toBe('refreshing debouncing');
    await advance(100);
    expect(screen.getByTestId('badge').textContent).toBe('refreshing refreshing');
    await advance(1_000);
    expect(screen.getByTestId('badge').textContent).toBe('authenticated idle');
    await act(() => authFetch.logout());

    expect(seen).toEqual(['authenticated/idle', 'refreshing/debouncing', 'refreshing/refreshing', 'authenticated/idle', 'loggedOut/loggedOut']);
  });

  test('a component re-renders only when the value it selects changes', async () => {
    const { server, authFetch, api } = await createHarness();
    let renders = 0;
    function LoggedOutFlag() {
      renders++;
      return <p>{String(useAuthSelector(selectIsLoggedOut))}</p>;
    }
    function QueueSize() {
      return <p data-testid="queued">{useAuthSelector(selectQueued)}</p>;
    }
    render(
      <AuthProvider session={authFetch}>
        <LoggedOutFlag />
        <QueueSize />
      </AuthProvider>,
    );
    server.expireAccessTokens();
    await act(async () => {
      for (const path of ['/a', '/b', '/c']) void authFetch(api(path));
    });
    await advance(50);
    expect(screen.getByTestId('queued').textContent).toBe('3');
    await advance(1_000);

    expect(screen.getByTestId('queued').textContent).toBe('0');
    expect(renders).toBe(1);
  });
});

describe('useAuth', () => {
  test('login, refresh and logout act on the one session', async () => {
    const { server, authFetch } = await createHarness();
    const wrapper = ({ children }: { children: ReactNode }) => <AuthProvider session={authFetch}>{children}</AuthProvider>;
    const { result } = renderHook(() => useAuth(), { wrapper });
    server.resetStats();

    await act(() => result.current.refresh());
    expect(server.stats.refreshCalls).toBe(1);
    await act(() => result.current.logout());
    expect(result.current.status).toBe('loggedOut');
    const again = server.login();
    await act(() => result.current.login({ accessToken: again.access_token, refreshToken: again.refresh_token }));
    expect(result.current.status).toBe('authenticated');
    expect(result.current.state).toBe('idle');
    expect(result.current.session).toBe(authFetch.session);
  });

  test('works over a bare session; useAuthFetch then says what to pass instead', async () => {
    const { server } = await createHarness();
    const login = server.login();
    const session = createSession({
      refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'authchart-tests' }),
      tokens: { accessToken: login.access_token, refreshToken: login.refresh_token },
    });
    const wrapper = ({ children }: { children: ReactNode }) => <AuthProvider session={session}>{children}</AuthProvider>;

    expect(renderHook(() => useAuth(), { wrapper }).result.current.status).toBe('authenticated');
    expect(renderHook(() => useSession(), { wrapper }).result.current).toBe(session);
    let thrown: unknown;
    try {
      renderHook(() => useAuthFetch(), { wrapper });
    } catch (error) {
      thrown = error;
    }
    expect(isAuthchartError(thrown, 'INVALID_OPTIONS')).toBe(true);
    expect(String((thrown as Error).message)).toContain('createAuthFetch');
    await session.dispose();
  });

  test('hooks outside a provider throw a clear error', () => {
    expect(() => renderHook(() => useAuthStatus())).toThrow(/inside <AuthProvider/);
  });

  test('nothing rendered from the hooks holds a token', async () => {
    const { server, authFetch } = await createHarness();
    function Everything() {
      const auth = useAuth();
      const snapshot = useAuthSelector((s) => s);
      return <pre data-testid="all">{JSON.stringify({ ...auth, session: auth.session.getStatus(), context: snapshot.context })}</pre>;
    }
    render(
      <AuthProvider session={authFetch}>
        <Everything />
      </AuthProvider>,
    );
    server.expireAccessTokens();
    await act(async () => {
      void authFetch.refresh();
    });
    await advance(1_000);

    const text = screen.getByTestId('all').textContent ?? '';
    expect(text).toContain('"tokenVersion"');
    for (const secret of issuedSecrets()) expect(text).not.toContain(secret);
  });
});
