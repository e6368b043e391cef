/**
 * The axios front end against a real server on 127.0.0.1 that answers for several host
 * names, on the oldest and newest axios of the peer range: the origin is decided on the URL
 * axios really sends to, whatever order the interceptors were added in; a redirect keeps
 * the token only on allowed origins (axios 1.7's follow-redirects keeps it on a
 * subdomain); answers from a foreign origin are never judged; a replay is replayed once.
 */
import type { AxiosInstance, AxiosStatic } from 'axios';
import axiosLatest from 'axios';
import axiosOldest from 'axios-1-7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachAuth, type AuthAxiosOptions } from '../../adapters/axios/index.js';
import { ErrorCode, isAuthchartError } from '../../adapters/index.js';
import { json, redirect, startHosts, testLookup, type Hosts } from '../support/hosts.js';

const versions: [string, AxiosStatic][] = [
  [`axios ${axiosOldest.VERSION}`, axiosOldest as unknown as AxiosStatic],
  [`axios ${axiosLatest.VERSION}`, axiosLatest],
];

let hosts: Hosts;
beforeAll(async () => {
  hosts = await startHosts((request, response) => {
    const url = new URL(request.path, 'http://x');
    const to = url.searchParams.get('to');
    if (url.pathname === '/redirect' && to) return redirect(response, Number(url.searchParams.get('status') ?? 302), to);
    if (url.pathname === '/unauthorized') return json(response, 401, { error: 'invalid_token' });
    if (url.pathname === '/pushed') return json(response, 200, { access_token: `at_pushed_by_${request.host}` }, { 'x-token-refreshed': '1' });
    json(response, 200, { host: request.host });
  });
});
afterAll(() => hosts.close());

const api = (path: string) => hosts.url('api.test', path);
const via = (status: number, to: string) => `/redirect?status=${status}&to=${encodeURIComponent(to)}`;
const seenFrom = (since: number) => hosts.seen.slice(since).map((s) => [s.host, s.authorization ?? null]);

function client(axios: AxiosStatic, extra: Partial<AuthAxiosOptions> = {}, setup?: (instance: AxiosInstance) => void) {
  const calls = { refresh: 0, onResponse: [] as string[] };
  const instance = axios.create({ adapter: 'http', baseURL: api(''), lookup: testLookup } as object);
  setup?.(instance);
  const auth = attachAuth(instance, {
    refresh: async () => {
      calls.refresh++;
      if (calls.refresh > 5) throw new Error('refresh loop');
      return { accessToken: `at_fresh_${calls.refresh}` };
    },
    allowedOrigins: [api(''), hosts.url('uploads.test', '')],
    tokens: { accessToken: 'at_first', refreshToken: 'rt' },
    debounceMs: 0,
    onResponse: (response) => {
      calls.onResponse.push(String(response.data?.access_token ?? ''));
    },
    ...extra,
  });
  return { instance, auth, calls };
}

describe.each(versions)('%s', (_name, axios) => {
  describe('the origin is decided on the URL axios sends to, whatever the interceptor order', () => {
    it('an interceptor added before attachAuth that moves the request elsewhere: no token goes there', async () => {
      const { instance, auth } = client(axios, {}, (instance) =>
        instance.interceptors.request.use((config) => ({ ...config, baseURL: hosts.url('evil.test', '') }) as typeof config),
      );
      const since = hosts.seen.length;
      await instance.get('/me');
      expect(seenFrom(since)).toEqual([['evil.test', null]]);
      await auth.dispose();
    });

    it('an interceptor added before attachAuth that moves the request to an allowed origin: the token goes there', async () => {
      const { instance, auth } = client(axios, {}, (instance) =>
        instance.interceptors.request.use((config) => {
          config.url = hosts.url('uploads.test', '/me');
          return config;
        }),
      );
      instance.defaults.baseURL = hosts.url('elsewhere.test', '');
      const since = hosts.seen.length;
      await instance.get('/somewhere');
      expect(seenFrom(since)).toEqual([['uploads.test', 'Bearer at_first']]);
      await auth.dispose();
    });

    it('an interceptor added after attachAuth that moves the request elsewhere: no token goes there', async () => {
      const { instance, auth } = client(axios);
      instance.interceptors.request.use((config) => {
        config.url = hosts.url('evil.test', '/me');
        return config;
      });
      const since = hosts.seen.length;
      await instance.get('/me');
      expect(seenFrom(since)).toEqual([['evil.test', null]]);
      await auth.dispose();
    });
  });

  describe('redirects', () => {
    it('a redirect to a subdomain that is not allowed is followed without the token', async () => {
      const { instance, auth } = client(axios);
      const since = hosts.seen.length;
      const { data } = await instance.get(via(302, hosts.url('evil.api.test', '/me')));
      expect(data).toEqual({ host: 'evil.api.test' });
      expect(seenFrom(since)).toEqual([
        ['api.test', 'Bearer at_first'],
        ['evil.api.test', null],
      ]);
      await auth.dispose();
    });

    it('an app beforeRedirect still runs, and cannot be used to keep the token off-origin', async () => {
      const hops: string[] = [];
      const { instance, auth } = client(axios);
      const since = hosts.seen.length;
      await instance.get(via(302, hosts.url('evil.api.test', '/me')), {
        beforeRedirect: (options: Record<string, unknown>) => void hops.push(String(options.href)),
      });
      expect(hops).toEqual([hosts.url('evil.api.test', '/me')]);
      expect(seenFrom(since)[1]).toEqual(['evil.api.test', null]);
      await auth.dispose();
    });

    it('a redirect to another allowed origin carries the token there', async () => {
      const { instance, auth } = client(axios);
      const since = hosts.seen.length;
      await instance.get(via(302, hosts.url('uploads.test', '/me')));
      expect(seenFrom(since)).toEqual([
        ['api.test', 'Bearer at_first'],
        ['uploads.test', 'Bearer at_first'],
      ]);
      await auth.dispose();
    });

    it('an answer from a foreign origin a redirect led to never reaches onResponse', async () => {
      const { instance, auth, calls } = client(axios);
      await instance.get(via(302, hosts.url('evil.api.test', '/pushed')));
      expect(calls.onResponse).toEqual([]);
      await instance.get(via(302, api('/pushed')));
      expect(calls.onResponse).toEqual(['at_pushed_by_api.test']);
      await auth.dispose();
    });

    it('a 401 from a foreign origin a redirect led to starts no refresh and no replay', async () => {
      const { instance, auth, calls } = client(axios);
      const since = hosts.seen.length;
      const error = await instance.get(via(302, hosts.url('evil.api.test', '/unauthorized'))).catch((e: unknown) => e);
      expect((error as { response?: { status: number } }).response?.status).toBe(401);
      expect(calls.refresh).toBe(0);
      expect(seenFrom(since).map(([host]) => host)).toEqual(['api.test', 'evil.api.test']);
      await auth.dispose();
    });
  });

  it('a replayed request that gets 401 again fails once with UNAUTHORIZED_AFTER_REFRESH (R7)', async () => {
    const { instance, auth, calls } = client(axios);
    const since = hosts.seen.length;
    const error = await instance.get('/unauthorized').catch((e: unknown) => e);
    expect(isAuthchartError(error, ErrorCode.UNAUTHORIZED_AFTER_REFRESH)).toBe(true);
    expect(seenFrom(since)).toEqual([
      ['api.test', 'Bearer at_first'],
      ['api.test', 'Bearer at_fresh_1'],
    ]);
    expect(calls.refresh).toBe(1);
    await auth.dispose();
  });
});

describe.each(versions)('%s with the fetch adapter (fetch follows the redirect)', (_name, axios) => {
  // Node's fetch, without a custom lookup: 127.0.0.1 is allowed, localhost (the same server) is not.
  function fetchClient() {
    const calls = { refresh: 0, onResponse: 0 };
    const instance = axios.create({ adapter: 'fetch', baseURL: hosts.url('127.0.0.1', '') });
    const auth = attachAuth(instance, {
      refresh: async () => ({ accessToken: `at_fresh_${++calls.refresh}` }),
      allowedOrigins: [hosts.url('127.0.0.1', '')],
      tokens: { accessToken: 'at_first', refreshToken: 'rt' },
      debounceMs: 0,
      onResponse: () => void calls.onResponse++,
    });
    return { instance, auth, calls };
  }

  it('a redirect off the allowed origins is followed without the token', async () => {
    const { instance, auth } = fetchClient();
    const since = hosts.seen.length;
    await instance.get(via(302, hosts.url('localhost', '/me')));
    expect(seenFrom(since)).toEqual([
      ['127.0.0.1', 'Bearer at_first'],
      ['localhost', null],
    ]);
    await auth.dispose();
  });
});

describe(`axios ${axiosLatest.VERSION} with the fetch adapter: where a redirect ended is known (env.fetch, axios 1.12 and later)`, () => {
  it('an answer from a foreign origin reaches neither onResponse nor the refresh', async () => {
    const calls = { refresh: 0, onResponse: 0 };
    const instance = axiosLatest.create({ adapter: 'fetch', baseURL: hosts.url('127.0.0.1', '') });
    const auth = attachAuth(instance, {
      refresh: async () => ({ accessToken: `at_fresh_${++calls.refresh}` }),
      allowedOrigins: [hosts.url('127.0.0.1', '')],
      tokens: { accessToken: 'at_first', refreshToken: 'rt' },
      debounceMs: 0,
      onResponse: () => void calls.onResponse++,
    });
    await instance.get(via(302, hosts.url('localhost', '/pushed')));
    const error = await instance.get(via(302, hosts.url('localhost', '/unauthorized'))).catch((e: unknown) => e);
    expect((error as { response?: { status: number } }).response?.status).toBe(401);
    expect(calls).toEqual({ refresh: 0, onResponse: 0 });
    // An allowed origin's answer still counts.
    await instance.get(via(302, hosts.url('127.0.0.1', '/pushed')));
    expect(calls.onResponse).toBe(1);
    await auth.dispose();
  });
});
