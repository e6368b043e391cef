// @vitest-environment happy-dom
/**
 * `authchart/tanstack-query` with @tanstack/react-query: components whose queries load
 * through `authchart/fetch`, against the real rotating strict token server and resource
 * server on 127.0.0.1. End-to-end: real time, every wait bounded.
 */
import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query';
import { cleanup, render, screen, waitFor } from '@testing-library/react';
import { fetch as nodeFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAuthFetch, type AuthFetch } from '../../adapters/fetch/index.js';
import { isAuthchartError } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { connectQueryClient } from '../../adapters/tanstack-query/index.js';
import { createTokenServer, startTestServers, type TestServers } from '../../adapters/testing/node.js';
import type { TokenServer } from '../../adapters/testing/index.js';

let tokens: TokenServer;
let servers: TestServers;
beforeAll(async () => {
  tokens = createTokenServer({ accessTokenTtlSeconds: 60 });
  servers = await startTestServers(tokens);
});
afterAll(async () => {
  await servers?.close();
});
afterEach(() => cleanup());

function signedIn(options: { backoffBaseMs?: number } = {}): AuthFetch {
  const login = tokens.login();
  return createAuthFetch({
    refresh: oauthRefresher({ tokenEndpoint: servers.tokenEndpoint, clientId: 'tanstack-tests', fetch: nodeFetch as unknown as typeof fetch }),
    allowedOrigins: [servers.apiOrigin],
    tokens: { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + login.expires_in * 1000 },
    wake: false,
    backoffBaseMs: options.backoffBaseMs,
    // Node's fetch: happy-dom's would print every 401 the session absorbs to the console.
    fetch: nodeFetch as unknown as typeof fetch,
  });
}

/** One component, one query: shows the data, or the error's code, or "loading". */
/** Every error a component has rendered, whatever it showed in the end. */
const errorsShown: string[] = [];

function Item({ authFetch, id, calls }: { authFetch: AuthFetch; id: number; calls: number[] }) {
  const { data, error, failureCount } = useQuery({
    queryKey: ['item', id],
    queryFn: async () => {
      calls[id] = (calls[id] ?? 0) + 1;
      const response = await authFetch(`${servers.api}/item/${id}`);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return ((await response.json()) as { path: string }).path;
    },
  });
  const shown = data ?? (error ? (isAuthchartError(error) ? error.code : String(error)) : 'loading');
  if (error) errorsShown.push(`${id}: ${shown}`);
  return (
    <li data-testid={`item-${id}`} data-failures={failureCount}>
      {shown}
    </li>
  );
}

function Dashboard({ authFetch, queryClient, ids, calls }: { authFetch: AuthFetch; queryClient: QueryClient; ids: number[]; calls: number[] }) {
  return (
    <QueryClientProvider client={queryClient}>
      <ul>
        {ids.map((id) => (
          <Item key={id} authFetch={authFetch} id={id} calls={calls} />
        ))}
      </ul>
    </QueryClientProvider>
  );
}

const shown = (ids: number[]) => ids.map((id) => screen.getByTestId(`item-${id}`).textContent);
const ids = Array.from({ length: 10 }, (_, i) => i);
const loaded = ids.map((id) => `/api/item/${id}`);

describe('authchart/tanstack-query: connectQueryClient', () => {
  it('10 queries after expiry: one token call, every query shows its data, none an error', async () => {
    const authFetch = signedIn();
    const queryClient = new QueryClient();
    const disconnect = connectQueryClient(queryClient, authFetch);
    const calls: number[] = [];
    errorsShown.length = 0;
    try {
      tokens.resetStats();
      tokens.expireAccessTokens();
      render(<Dashboard authFetch={authFetch} queryClient={queryClient} ids={ids} calls={calls} />);
      await waitFor(() => expect(shown(ids)).toEqual(loaded), { timeout: 5000 });
      console.log(
        `[tanstack-query] 10 queries after expiry: token calls ${tokens.stats.refreshCalls}, 401s absorbed ${tokens.stats.resourceUnauthorized}, queryFn calls ${calls.reduce((a, b) => a + b, 0)}`,
      );
      expect(tokens.stats.refreshCalls).toBe(1);
      expect(errorsShown).toEqual([]);
      expect(tokens.stats.resourceUnauthorized).toBe(10);
      // Each queryFn ran once: the replay happened inside authFetch, not as a TanStack retry.
      expect(calls).toEqual(Array(10).fill(1));
    } finally {
      disconnect();
      await authFetch.dispose();
    }
  });

  it('a query that fails with SESSION_EXPIRED is not retried', async () => {
    const authFetch = signedIn();
    const queryClient = new QueryClient();
    const disconnect = connectQueryClient(queryClient, authFetch);
    const calls: number[] = [];
    try {
      await authFetch.logout();
      render(<Dashboard authFetch={authFetch} queryClient={queryClient} ids={[0]} calls={calls} />);
      await waitFor(() => expect(shown([0])).toEqual(['SESSION_EXPIRED']), { timeout: 5000 });
      expect(screen.getByTestId('item-0').dataset.failures).toBe('1');
      expect(calls).toEqual([1]);
    } finally {
      disconnect();
      await authFetch.dispose();
    }
  });

  it('queries that failed while the token endpoint was down are refetched after the next refresh and show their data', async () => {
    const authFetch = signedIn({ backoffBaseMs: 10 });
    const queryClient = new QueryClient();
    const disconnect = connectQueryClient(queryClient, authFetch);
    const calls: number[] = [];
    const five = ids.slice(0, 5);
    try {
      tokens.resetStats();
      tokens.fault(...Array.from({ length: 4 }, () => ({ type: 'unavailable' as const })));
      tokens.expireAccessTokens();
      render(<Dashboard authFetch={authFetch} queryClient={queryClient} ids={five} calls={calls} />);
      await waitFor(() => expect(shown(five)).toEqual(Array(5).fill('REFRESH_UNAVAILABLE')), { timeout: 5000 });
      expect(calls).toEqual(Array(5).fill(1));

      await authFetch.refresh();
      await waitFor(() => expect(shown(five)).toEqual(loaded.slice(0, 5)), { timeout: 5000 });
      expect(calls).toEqual(Array(5).fill(2));
      expect(tokens.stats.reuseDetected).toBe(0);
    } finally {
      disconnect();
      await authFetch.dispose();
    }
  });

  it('logout clears the cache: no query keeps the last user’s data', async () => {
    const authFetch = signedIn();
    const queryClient = new QueryClient();
    const disconnect = connectQueryClient(queryClient, authFetch);
    try {
      await queryClient.fetchQuery({ queryKey: ['me'], queryFn: () => authFetch(`${servers.api}/me`).then((r) => r.json()) });
      expect(queryClient.getQueryData(['me'])).toMatchObject({ ok: true });
      await authFetch.logout();
      expect(queryClient.getQueryCache().getAll()).toEqual([]);
    } finally {
      disconnect();
      await authFetch.dispose();
    }
  });

  it('disconnecting restores the default retry; shouldRetry leaves other errors to the given rule', () => {
    const authFetch = signedIn();
    const queryClient = new QueryClient({ defaultOptions: { queries: { retry: 1 } } });
    const disconnect = connectQueryClient(queryClient, authFetch);
    const retry = queryClient.getDefaultOptions().queries?.retry as (count: number, error: unknown) => boolean;
    expect([retry(0, new Error('HTTP 500')), retry(1, new Error('HTTP 500'))]).toEqual([true, false]);
    disconnect();
    expect(queryClient.getDefaultOptions().queries?.retry).toBe(1);
    void authFetch.dispose();
  });
});
