/**
 * Peer: the naive client. Reproduces the most common hand-written fetch wrapper of the
 * incident reports: every request that gets a 401 refreshes on its own, then retries once;
 * a failed refresh logs the user out. Against a server that rotates refresh tokens, the
 * second concurrent refresh presents a rotated token and the session is revoked.
 */
import { ACCESS_TOKEN, refreshWithFetch, type PeerOptions } from './storage.js';

export function naiveFetch(options: PeerOptions & { fetch: typeof fetch }) {
  const { storage } = options;

  const refresh = () => refreshWithFetch(options);

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
