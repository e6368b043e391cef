/**
 * Peer: the shared-promise mutex. Reproduces the fix most often recommended for the herd in
 * one JS realm: a module-level `refreshPromise` that concurrent 401s await instead of each
 * refreshing; it is cleared when the refresh settles. A 401 that comes back after that
 * (the request was in flight with the old token) starts another refresh, and every client
 * (tab) has its own promise. A failed refresh logs the user out.
 */
import { ACCESS_TOKEN, refreshWithFetch, type PeerOptions } from './storage.js';

export function sharedPromiseFetch(options: PeerOptions & { fetch: typeof fetch }) {
  const { storage } = options;
  let refreshPromise: Promise<string> | null = null;

  const doRefresh = () => refreshWithFetch(options);

  function refresh(): Promise<string> {
    refreshPromise ??= doRefresh().finally(() => {
      refreshPromise = null;
    });
    return refreshPromise;
  }

  return async function request(url: string): Promise<Response> {
    const token = storage.getItem(ACCESS_TOKEN);
    if (!token) throw new Error('logged out');
    const response = await options.fetch(url, { headers: { authorization: `Bearer ${token}` } });
    if (response.status !== 401) return response;
    // Node's fetch keeps the connection until the body is read (a browser would not).
    void response.body?.cancel();
    const fresh = await refresh();
    return options.fetch(url, { headers: { authorization: `Bearer ${fresh}` } });
  };
}
