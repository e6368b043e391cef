/**
 * Peer: the npm package `axios-auth-refresh` (5.x), set up as its README recommends:
 * `createAuthRefresh(instance, refreshAuthLogic)`, where the refresh logic posts to the
 * token endpoint, stores the new token and sets it on `failedRequest.response.config`, and
 * a request interceptor that reads the token from storage on every request (so requests
 * stalled during the refresh pick up the new one). `deduplicateRefresh` stays at its
 * default (true). A failed refresh logs the user out.
 */
import type { AxiosInstance } from 'axios';
import { createAuthRefresh } from 'axios-auth-refresh';
import { ACCESS_TOKEN, REFRESH_TOKEN, logout, refreshForm, saveTokens, type PeerOptions } from './storage.js';

export function attachAxiosAuthRefresh(instance: AxiosInstance, options: PeerOptions & { refreshClient: AxiosInstance }): void {
  const { storage } = options;

  const refreshAuthLogic = (failedRequest: { response: { config: { headers: Record<string, unknown> } } }) =>
    options.refreshClient
      .post<{ access_token: string; refresh_token?: string }>(options.tokenEndpoint, refreshForm(options, storage.getItem(REFRESH_TOKEN) ?? ''))
      .then((tokenRefreshResponse) => {
        saveTokens(storage, tokenRefreshResponse.data);
        failedRequest.response.config.headers.Authorization = `Bearer ${tokenRefreshResponse.data.access_token}`;
      })
      .catch((error: unknown) => {
        logout(storage);
        throw error;
      });

  // Its types resolve axios's CommonJS declarations, ours the ESM ones: the same instance.
  createAuthRefresh(instance as unknown as Parameters<typeof createAuthRefresh>[0], refreshAuthLogic);

  instance.interceptors.request.use((request) => {
    request.headers.Authorization = `Bearer ${storage.getItem(ACCESS_TOKEN)}`;
    return request;
  });
}
