import { ErrorCode, isAuthchartError } from '../core/errors.js';
import { sessionOf, type SessionSource } from '../bindings/source.js';

/** TanStack Query's `retry` value: how many failures to retry, whether to, or a function deciding it. */
export type RetryValue = boolean | number | ((failureCount: number, error: unknown) => boolean);

/**
 * The part of TanStack Query's `QueryClient` (v5, any framework binding) this uses. Written
 * out so that nothing of `@tanstack/query-core` is needed here, not even its types.
 */
export interface QueryClientLike {
  getDefaultOptions(): { queries?: { retry?: unknown }; mutations?: { retry?: unknown } };
  setDefaultOptions(options: { queries?: { retry?: RetryValue }; mutations?: { retry?: RetryValue } }): void;
  refetchQueries(filters: { type: 'active'; predicate: (query: { state: { status: string; error: unknown } }) => boolean }): Promise<void>;
  invalidateQueries(): Promise<void>;
  clear(): void;
}

export interface ConnectQueryClientOptions {
  /**
   * What to refetch after each refresh: `'failed'`, the active queries that failed while
   * the token endpoint was unavailable or a request waited too long (`REFRESH_UNAVAILABLE`,
   * `QUEUE_TIMEOUT`), whose data the new token can now load; `'all'`, every query
   * (`invalidateQueries()`), for data that depends on the token's claims; or `false`.
   * @default 'failed'
   * @example connectQueryClient(queryClient, authFetch, { refetchOnRefresh: 'all' })
   */
  refetchOnRefresh?: 'failed' | 'all' | false;
  /**
   * Remove every query and mutation from the cache when the session ends (`loggedOut`),
   * so the next user of the device never sees the last one's data.
   * @default true
   * @example connectQueryClient(queryClient, authFetch, { clearOnLogout: false }) // you clear it yourself
   */
  clearOnLogout?: boolean;
  /**
   * Wrap the client's default `retry` (queries and mutations) with {@link shouldRetry}, so
   * that authchart's errors are never retried.
   * @default true
   * @example connectQueryClient(queryClient, authFetch, { retry: false }) // your retry functions call shouldRetry already
   */
  retry?: boolean;
}

/** The errors a refresh can cure: the token endpoint was unavailable, or the wait for it was too long. */
const CURED_BY_REFRESH = new Set<string>([ErrorCode.REFRESH_UNAVAILABLE, ErrorCode.QUEUE_TIMEOUT]);

/**
 * A `retry` for TanStack Query that never retries an authchart error and treats every other
 * error as `retry` says. The session has already done what a retry would: waited for the
 * one shared refresh, replayed once, backed off. A query that fails with `SESSION_EXPIRED`
 * fails at once (the user must sign in again); one that fails with `REFRESH_UNAVAILABLE`
 * is refetched after the next refresh by {@link connectQueryClient}.
 * @param retry TanStack Query's value for other errors.
 * @default retry: 3 (TanStack Query's default for queries in a browser)
 * @example
 * const queryClient = new QueryClient({ defaultOptions: { queries: { retry: shouldRetry(2) } } })
 * useQuery({ queryKey: ['me'], queryFn, retry: shouldRetry((count, error) => count < 5) })
 */
export function shouldRetry(retry: RetryValue = 3): (failureCount: number, error: unknown) => boolean {
  return (failureCount, error) => {
    if (isAuthchartError(error)) return false;
    if (typeof retry === 'function') return retry(failureCount, error);
    if (typeof retry === 'number') return failureCount < retry;
    return retry;
  };
}

/**
 * Tie a TanStack Query client to the session: authchart's errors are not retried (see
 * {@link shouldRetry}; the client's default `retry` is wrapped, a query's own `retry`
 * option is not: wrap it with `shouldRetry` too), queries that failed because the token
 * endpoint was unavailable are refetched after the next refresh, and the cache is cleared
 * when the session ends. Requests themselves go through `authchart/fetch` (or axios, or a
 * GraphQL client with authchart's link), so every retry or refetch sends the current token,
 * never one captured when the query was created. Returns a function that undoes it all.
 * @example
 * const authFetch = createAuthFetch({ refresh, allowedOrigins: ['https://api.example.com'] })
 * const queryClient = new QueryClient()
 * connectQueryClient(queryClient, authFetch)
 *
 * useQuery({ queryKey: ['me'], queryFn: () => authFetch('https://api.example.com/me').then((r) => r.json()) })
 */
export function connectQueryClient(queryClient: QueryClientLike, source: SessionSource, options: ConnectQueryClientOptions = {}): () => void {
  const session = sessionOf(source);
  const refetchOnRefresh = options.refetchOnRefresh ?? 'failed';
  const clearOnLogout = options.clearOnLogout ?? true;

  const original = queryClient.getDefaultOptions();
  if (options.retry ?? true) {
    queryClient.setDefaultOptions({
      ...original,
      queries: { ...original.queries, retry: shouldRetry((original.queries?.retry as RetryValue | undefined) ?? 3) },
      mutations: { ...original.mutations, retry: shouldRetry((original.mutations?.retry as RetryValue | undefined) ?? 0) },
    });
  }

  const offRefreshed = session.on('refreshed', () => {
    if (refetchOnRefresh === 'all') {
      void queryClient.invalidateQueries().catch(() => undefined);
    } else if (refetchOnRefresh === 'failed') {
      const predicate = (query: { state: { status: string; error: unknown } }) =>
        query.state.status === 'error' && isAuthchartError(query.state.error) && CURED_BY_REFRESH.has(query.state.error.code);
      void queryClient.refetchQueries({ type: 'active', predicate }).catch(() => undefined);
    }
  });
  const offLoggedOut = session.on('loggedOut', () => {
    if (clearOnLogout) queryClient.clear();
  });

  return () => {
    offRefreshed();
    offLoggedOut();
    if (options.retry ?? true) queryClient.setDefaultOptions(original as Parameters<QueryClientLike['setDefaultOptions']>[0]);
  };
}
