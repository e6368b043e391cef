/**
 * The transports every strategy gets: one bounded connection pool per run of a cell (the
 * same size for fetch and axios), so 10,000 concurrent requests queue for a socket instead
 * of exhausting them, and a log of the 401s the resource server answered, per request URL.
 */
import axios, { isAxiosError, type AxiosAdapter, type CreateAxiosDefaults, type InternalAxiosRequestConfig } from 'axios';
import { Agent as HttpAgent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Agent, fetch as undiciFetch } from 'undici';

/** Sockets per origin, for every strategy. */
export const POOL_SIZE = 64;

/** When each request URL first got a 401 (performance.now() ms). */
export class UnauthorizedLog {
  readonly first = new Map<string, number>();
  record(url: string, status: number): void {
    if (status === 401 && !this.first.has(url)) this.first.set(url, performance.now());
  }
}

export interface Transport {
  /** A fetch over a pool of {@link POOL_SIZE} connections per origin (undici Agent). */
  fetch: typeof fetch;
  /** axios defaults: the http adapter over an http.Agent with {@link POOL_SIZE} sockets. */
  axios: CreateAxiosDefaults;
  close(): Promise<void>;
}

function urlOf(config: InternalAxiosRequestConfig): string {
  return config.url ?? '';
}

export function createTransport(log?: UnauthorizedLog): Transport {
  const dispatcher = new Agent({ connections: POOL_SIZE });
  const pooled = ((input: RequestInfo | URL, init?: RequestInit) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher })) as unknown as typeof fetch;
  const observed: typeof fetch = log
    ? async (input, init) => {
        const response = await pooled(input, init);
        log.record(String(input), response.status);
        return response;
      }
    : pooled;

  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: POOL_SIZE });
  const http = axios.getAdapter('http');
  const adapter: AxiosAdapter = async (config) => {
    try {
      const response = await http(config);
      log?.record(urlOf(config), response.status);
      return response;
    } catch (error) {
      if (isAxiosError(error) && error.response) log?.record(urlOf(config), error.response.status);
      throw error;
    }
  };

  return {
    fetch: observed,
    axios: { adapter, httpAgent },
    async close() {
      httpAgent.destroy();
      await dispatcher.close();
    },
  };
}
