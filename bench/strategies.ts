/**
 * The strategies the benchmark compares, behind one interface: authchart through its two
 * front ends, and the four peers of `bench/peers/`. Each strategy says where one user's
 * tokens live (`share`, shared by every client of that user, as tabs share storage), how
 * to make a client, and which refresh token it holds at the end.
 */
import axios from 'axios';
import { waitFor } from 'xstate';
import { attachAuth } from '../adapters/axios/index.js';
import { createAuthFetch } from '../adapters/fetch/index.js';
import { memoryLock, memoryStore, type RefreshLock, type Session, type SessionOptions, type TokenStore } from '../adapters/index.js';
import { oauthRefresher } from '../adapters/oauth/index.js';
import type { Transport } from './io.js';
import { attachAxiosAuthRefresh } from './peers/axios-auth-refresh.js';
import { attachFailedQueue } from './peers/failed-queue.js';
import { naiveFetch } from './peers/naive.js';
import { sharedPromiseFetch } from './peers/shared-promise.js';
import { ACCESS_TOKEN, MemoryStorage, REFRESH_TOKEN } from './peers/storage.js';

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  /** What the client believes (epoch ms); the server may have expired the token earlier. */
  expiresAt: number;
}

export interface Env {
  tokenEndpoint: string;
  apiOrigin: string;
  clientId: string;
  transport: Transport;
  /** Several clients share the user's tokens (tabs): authchart sessions then share a lock too. */
  shared: boolean;
  /** Extra session options for authchart (documented options only). */
  authchart?: Partial<SessionOptions>;
}

export interface Client {
  /** GET `url`; resolves with the final status (body read), rejects when the client gives up. */
  get(url: string): Promise<number>;
  /** Resolves when no refresh of this client is still under way. */
  settle(): Promise<void>;
  dispose(): Promise<void>;
}

export interface Strategy<Shared = unknown> {
  key: string;
  name: string;
  front: 'fetch' | 'axios';
  isAuthchart: boolean;
  share(tokens: Tokens): Shared;
  client(shared: Shared, env: Env): Client;
  storedRefreshToken(shared: Shared): string | undefined;
}

interface AuthchartShared {
  store: TokenStore;
  lock: RefreshLock;
}

function authchartOptions(shared: AuthchartShared, env: Env) {
  return {
    refresh: oauthRefresher({ tokenEndpoint: env.tokenEndpoint, clientId: env.clientId, fetch: env.transport.fetch }),
    allowedOrigins: [env.apiOrigin],
    store: shared.store,
    ...(env.shared ? { lock: shared.lock } : {}),
    ...env.authchart,
  };
}

function settled(session: Session): Promise<void> {
  return waitFor(session.actor, (snapshot) => !snapshot.hasTag('waiting'), { timeout: 120_000 }).then(() => undefined);
}

const authchartShare = (tokens: Tokens): AuthchartShared => ({ store: memoryStore(tokens), lock: memoryLock() });
const authchartStored = (shared: AuthchartShared) => {
  const record = shared.store.get();
  return record && !(record instanceof Promise) ? record.refreshToken : undefined;
};

export const authchartFetch: Strategy<AuthchartShared> = {
  key: 'authchart-fetch',
  name: 'authchart (fetch)',
  front: 'fetch',
  isAuthchart: true,
  share: authchartShare,
  storedRefreshToken: authchartStored,
  client(shared, env) {
    const authFetch = createAuthFetch({ ...authchartOptions(shared, env), fetch: env.transport.fetch });
    return {
      async get(url) {
        const response = await authFetch(url);
        await response.arrayBuffer();
        return response.status;
      },
      settle: () => settled(authFetch.session),
      dispose: () => authFetch.dispose(),
    };
  },
};

/** The same front end with the debounce window off: single flight alone gathers the herd. */
export const authchartFetchNoDebounce: Strategy<AuthchartShared> = {
  ...authchartFetch,
  key: 'authchart-fetch-d0',
  name: 'authchart (fetch, debounceMs: 0)',
  client: (shared, env) => authchartFetch.client(shared, { ...env, authchart: { debounceMs: 0, ...env.authchart } }),
};

export const authchartAxios: Strategy<AuthchartShared> = {
  key: 'authchart-axios',
  name: 'authchart (axios)',
  front: 'axios',
  isAuthchart: true,
  share: authchartShare,
  storedRefreshToken: authchartStored,
  client(shared, env) {
    const instance = axios.create(env.transport.axios);
    const auth = attachAuth(instance, authchartOptions(shared, env));
    return {
      get: async (url) => (await instance.get(url)).status,
      settle: () => settled(auth.session),
      dispose: () => auth.dispose(),
    };
  },
};

function peerShare(tokens: Tokens): Storage {
  const storage = new MemoryStorage();
  storage.setItem(ACCESS_TOKEN, tokens.accessToken);
  storage.setItem(REFRESH_TOKEN, tokens.refreshToken);
  return storage;
}
const peerStored = (storage: Storage) => storage.getItem(REFRESH_TOKEN) ?? undefined;
const nothingPending = async () => undefined;

function fetchPeer(key: string, name: string, make: typeof naiveFetch): Strategy<Storage> {
  return {
    key,
    name,
    front: 'fetch',
    isAuthchart: false,
    share: peerShare,
    storedRefreshToken: peerStored,
    client(storage, env) {
      const request = make({ tokenEndpoint: env.tokenEndpoint, clientId: env.clientId, storage, fetch: env.transport.fetch });
      return {
        async get(url) {
          const response = await request(url);
          await response.arrayBuffer();
          return response.status;
        },
        settle: nothingPending,
        dispose: nothingPending,
      };
    },
  };
}

function axiosPeer(key: string, name: string, attach: typeof attachFailedQueue): Strategy<Storage> {
  return {
    key,
    name,
    front: 'axios',
    isAuthchart: false,
    share: peerShare,
    storedRefreshToken: peerStored,
    client(storage, env) {
      const instance = axios.create(env.transport.axios);
      attach(instance, { tokenEndpoint: env.tokenEndpoint, clientId: env.clientId, storage, refreshClient: axios.create(env.transport.axios) });
      return {
        get: async (url) => (await instance.get(url)).status,
        settle: nothingPending,
        dispose: nothingPending,
      };
    },
  };
}

export const naive = fetchPeer('naive', 'naive (each 401 refreshes)', naiveFetch);
export const sharedPromise = fetchPeer('shared-promise', 'shared refreshPromise', sharedPromiseFetch);
export const failedQueue = axiosPeer('failed-queue', 'axios isRefreshing + failedQueue', attachFailedQueue);
export const axiosAuthRefresh = axiosPeer('axios-auth-refresh', 'axios-auth-refresh 5.x', attachAxiosAuthRefresh);

export const strategies: Strategy[] = [
  authchartFetch,
  authchartFetchNoDebounce,
  authchartAxios,
  naive,
  sharedPromise,
  failedQueue,
  axiosAuthRefresh,
] as Strategy[];
