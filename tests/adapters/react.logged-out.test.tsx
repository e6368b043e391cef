// @vitest-environment happy-dom
import { act, cleanup, render, screen } from '@testing-library/react';
import { StrictMode, useState } from 'react';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { AuthProvider, type LoggedOutNotice } from '../../adapters/react/index.js';
import { testUrls } from '../../adapters/testing/index.js';
import { createHarness, useMockNetwork } from '../support/harness.js';
import { advance, Widget } from '../support/react.js';

useMockNetwork();
afterEach(() => cleanup());

/**
 * A minimal router: the app redirects to /login from `onLoggedOut`, as apps do. Every
 * navigation re-renders the whole tree, provider included.
 */
function routedApp(authFetch: ReturnType<typeof createAuthFetch>, start: string, api: (path: string) => string) {
  const history: string[] = [start];
  const onLoggedOut = vi.fn((_notice: LoggedOutNotice) => {
    navigate('/login');
  });
  let navigate: (path: string) => void = () => undefined;
  function App() {
    const [path, setPath] = useState(start);
    navigate = (to) => {
      history.push(to);
      setPath(to);
    };
    return (
      <AuthProvider session={authFetch} onLoggedOut={(notice) => onLoggedOut(notice)} isLoginPage={() => history.at(-1) === '/login'}>
        {path === '/login' ? (
          <p data-testid="page">login</p>
        ) : (
          <>
            <p data-testid="page">dashboard</p>
            <Widget name="orders" url={api('/widgets/orders')} />
          </>
        )}
      </AuthProvider>
    );
  }
  return { App, onLoggedOut, history };
}

describe('onLoggedOut', () => {
  test('is called once when the session ends, whatever re-renders and remounts follow', async () => {
    const { authFetch } = await createHarness();
    const onLoggedOut = vi.fn();
    const tree = () => (
      <StrictMode>
        <AuthProvider session={authFetch} onLoggedOut={(notice) => onLoggedOut(notice)}>
          <p>app</p>
        </AuthProvider>
      </StrictMode>
    );
    const { rerender, unmount } = render(tree());
    expect(onLoggedOut).not.toHaveBeenCalled();

    await act(() => authFetch.logout());
    rerender(tree());
    unmount();
    render(tree());
    await advance(1_000);

    expect(onLoggedOut).toHaveBeenCalledTimes(1);
    expect(onLoggedOut).toHaveBeenCalledWith({ reason: 'logout' });
  });

  test('redirects to the login page once when the server revokes the session, without a loop', async () => {
    const { server, authFetch, api, initialRefreshToken } = await createHarness();
    const { App, onLoggedOut, history } = routedApp(authFetch, '/dashboard', api);
    render(
      <StrictMode>
        <App />
      </StrictMode>,
    );
    await advance(0);
    expect(screen.getByTestId('orders').textContent).toBe('ok /api/widgets/orders');

    server.revoke(initialRefreshToken);
    await act(async () => {
      void authFetch(api('/widgets/orders')).catch(() => undefined);
    });
    // invalid_grant three times, through backoff(1) and backoff(2).
    await advance(10_000);

    expect(authFetch.getStatus().loggedOutReason).toBe('permanentFailures');
    expect(screen.getByTestId('page').textContent).toBe('login');
    expect(onLoggedOut).toHaveBeenCalledTimes(1);
    expect(onLoggedOut).toHaveBeenCalledWith({ reason: 'permanentFailures' });
    expect(history).toEqual(['/dashboard', '/login']);
  });

  test('is not called on the login page (a full page load of /login starts without a session)', async () => {
    await createHarness();
    // A full page load is a new session: it starts logged out (reason noSession).
    const fresh = createAuthFetch({
      refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'authchart-tests' }),
      allowedOrigins: [new URL(testUrls.api).origin],
    });
    const { App, onLoggedOut, history } = routedApp(fresh, '/login', (path) => `${testUrls.api}${path}`);
    render(
      <StrictMode>
        <App />
      </StrictMode>,
    );
    await advance(1_000);

    expect(fresh.getStatus().status).toBe('loggedOut');
    expect(onLoggedOut).not.toHaveBeenCalled();
    expect(history).toEqual(['/login']);
  });

  test('a protected page loaded without a session redirects once, with reason noSession', async () => {
    await createHarness();
    const fresh = createAuthFetch({
      refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'authchart-tests' }),
      allowedOrigins: [new URL(testUrls.api).origin],
    });
    const { App, onLoggedOut, history } = routedApp(fresh, '/dashboard', (path) => `${testUrls.api}${path}`);
    render(
      <StrictMode>
        <App />
      </StrictMode>,
    );
    await advance(1_000);

    expect(onLoggedOut).toHaveBeenCalledTimes(1);
    expect(onLoggedOut).toHaveBeenCalledWith({ reason: 'noSession' });
    expect(history).toEqual(['/dashboard', '/login']);
    expect(screen.getByTestId('page').textContent).toBe('login');
  });

  test('is called again for a new logged-out spell after the next login', async () => {
    const { server, authFetch } = await createHarness();
    const onLoggedOut = vi.fn();
    render(
      <StrictMode>
        <AuthProvider session={authFetch} onLoggedOut={onLoggedOut}>
          <p>app</p>
        </AuthProvider>
      </StrictMode>,
    );

    await act(() => authFetch.logout());
    const again = server.login();
    await act(() => authFetch.login({ accessToken: again.access_token, refreshToken: again.refresh_token }));
    await act(() => authFetch.logout());

    expect(onLoggedOut).toHaveBeenCalledTimes(2);
  });
});
