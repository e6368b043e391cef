/**
 * Peer: the axios `isRefreshing` + `failedQueue` interceptor. Reproduces the response
 * interceptor copied into countless axios apps: the first 401 sets `isRefreshing`, marks
 * its request `_retry` and refreshes; 401s that arrive while `isRefreshing` is set are
 * pushed on `failedQueue` and replayed (or rejected) by `processQueue` when the refresh
 * settles. A 401 that arrives after it settled starts another refresh. A request
 * interceptor attaches the stored token; a failed refresh logs the user out.
 */
import type { AxiosError, AxiosInstance, InternalAxiosRequestConfig } from 'axios';
import { ACCESS_TOKEN, REFRESH_TOKEN, logout, refreshForm, saveTokens, type PeerOptions } from './storage.js';

type RetryConfig = InternalAxiosRequestConfig & { _retry?: boolean };

export function attachFailedQueue(instance: AxiosInstance, options: PeerOptions & { refreshClient: AxiosInstance }): void {
  const { storage } = options;
  let isRefreshing = false;
  let failedQueue: { resolve: (token: string) => void; reject: (error: unknown) => void }[] = [];

  const processQueue = (error: unknown, token: string | null) => {
    for (const waiter of failedQueue) {
      if (error) waiter.reject(error);
      else waiter.resolve(token!);
    }
    failedQueue = [];
  };

  instance.interceptors.request.use((config) => {
    const token = storage.getItem(ACCESS_TOKEN);
    if (token) config.headers.Authorization = `Bearer ${token}`;
    return config;
  });

  instance.interceptors.response.use(
    (response) => response,
    (error: AxiosError) => {
      const original = error.config as RetryConfig | undefined;
      if (!original || error.response?.status !== 401 || original._retry) return Promise.reject(error);
      if (isRefreshing) {
        return new Promise<string>((resolve, reject) => failedQueue.push({ resolve, reject })).then((token) => {
          original.headers.Authorization = `Bearer ${token}`;
          return instance(original);
        });
      }
      original._retry = true;
      isRefreshing = true;
      const refreshToken = storage.getItem(REFRESH_TOKEN) ?? '';
      return new Promise((resolve, reject) => {
        options.refreshClient
          .post<{ access_token: string; refresh_token?: string }>(options.tokenEndpoint, refreshForm(options, refreshToken))
          .then(({ data }) => {
            saveTokens(storage, data);
            original.headers.Authorization = `Bearer ${data.access_token}`;
            processQueue(null, data.access_token);
            resolve(instance(original));
          })
          .catch((refreshError: unknown) => {
            processQueue(refreshError, null);
            logout(storage);
            reject(refreshError);
          })
          .finally(() => {
            isRefreshing = false;
          });
      });
    },
  );
}
