/**
 * The fetch front end against a real server on 127.0.0.1 that answers for several host
 * names: the token follows a redirect only to allowed origins whatever `fetch` follows the
 * redirect (node-fetch 2 keeps `Authorization` on a redirect to a subdomain; undici drops
 * it on any other origin), answers from a foreign origin are never judged, and the URL is
 * read once.
 */
import nodeFetch from 'node-fetch';
import { Agent as HttpAgent } from 'node:http';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { json, redirect, startHosts, testLookup, type Hosts } from '../support/hosts.js';

let hosts: Hosts;
beforeAll(async () => {
  hosts = await startHosts((request, response) => {
    const url = new URL(request.path, 'http://x');
    const to = url.searchParams.get('to');
    if (url.pathname === '/redirect' && to) return redirect(response, Number(url.searchParams.get('status') ?? 302), to);
    if (url.pathname === '/unauthorized') return json(response, 401, { error: 'invalid_token' });
    if (url.pathname === '/pushed') {
      return json(response, 200, { access_token: `at_pushed_by_${request.host}` }, { 'x-token-refreshed': '1' });
    }
    json(response, 200, { host: request.host, method: request.method, body: request.body });
  });
});
afterAll(() => hosts.close());

const nodeFetchAgent = new HttpAgent({ lookup: testLookup });
const undiciAgent = new Agent({ connect: { lookup: testLookup } });
/** Two real clients: node-fetch 2 (a subdomain keeps Authorization) and undici (the Fetch standard). */
const clients: [string, typeof fetch][] = [
  ['node-fetch 2', ((url: string, init?: RequestInit) => nodeFetch(url, { ...(init as object), agent: nodeFetchAgent })) as unknown as typeof fetch],
  ['undici fetch', ((url: string, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher: undiciAgent })) as unknown as typeof fetch],
];

const api = (path: string) => hosts.url('api.test', path);
const via = (status: number, to: string) => api(`/redirect?status=${status}&to=${encodeURIComponent(to)}`);

function client(baseFetch: typeof fetch, extra: Partial<Parameters<typeof createAuthFetch>[0]> = {}) {
  const calls = { refresh: 0, onResponse: [] as string[] };
  const authFetch = createAuthFetch({
    refresh: async () => {
      calls.refresh++;
      return { accessToken: `at_fresh_${calls.refresh}` };
    },
    allowedOrigins: [hosts.url('api.test', ''), hosts.url('uploads.test', '')],
    tokens: { accessToken: 'at_first', refreshToken: 'rt' },
    fetch: baseFetch,
    debounceMs: 0,
    onResponse: (response) => {
      calls.onResponse.push(response.url);
    },
    ...extra,
  });
  return { authFetch, calls };
}

/** Which host saw which Authorization, from `since` on. */
const seenFrom = (since: number) => hosts.seen.slice(since).map((s) => [s.host, s.authorization ?? null]);

describe.each(clients)('with %s', (_name, fetch) => {
  it('a redirect to a subdomain that is not allowed is followed without the token', async () => {
    const { authFetch } = client(fetch);
    const since = hosts.seen.length;
    const response = await authFetch(via(302, hosts.url('evil.api.test', '/me')));
    expect(response.status).toBe(200);
    expect(response.redirected).toBe(true);
    expect(seenFrom(since)).toEqual([
      ['api.test', 'Bearer at_first'],
      ['evil.api.test', null],
    ]);
    await authFetch.dispose();
  });

  it('a redirect from a foreign origin back to an allowed one gets the token there only', async () => {
    const { authFetch } = client(fetch);
    const since = hosts.seen.length;
    // Allowed → elsewhere → allowed again (another allowed origin).
    const back = hosts.url('elsewhere.test', `/redirect?status=307&to=${encodeURIComponent(hosts.url('uploads.test', '/me'))}`);
    const response = await authFetch(via(302, back));
    expect(response.status).toBe(200);
    expect(seenFrom(since)).toEqual([
      ['api.test', 'Bearer at_first'],
      ['elsewhere.test', null],
      ['uploads.test', 'Bearer at_first'],
    ]);
    await authFetch.dispose();
  });

  it('follows redirects as fetch does: a 307 keeps the method and body, a 303 becomes a GET without body', async () => {
    const { authFetch } = client(fetch);
    const kept = await authFetch(via(307, api('/echo')), { method: 'POST', body: 'amount=42', headers: { 'content-type': 'text/plain' } });
    expect(await kept.json()).toMatchObject({ host: 'api.test', method: 'POST', body: 'amount=42' });
    const turned = await authFetch(via(303, api('/echo')), { method: 'POST', body: 'amount=42' });
    expect(await turned.json()).toMatchObject({ method: 'GET', body: '' });
    await authFetch.dispose();
  });

  it('an answer from a foreign origin a redirect led to never reaches onResponse', async () => {
    const { authFetch, calls } = client(fetch);
    const foreign = await authFetch(via(302, hosts.url('evil.api.test', '/pushed')));
    expect(foreign.headers.get('x-token-refreshed')).toBe('1');
    expect(calls.onResponse).toEqual([]);
    // An allowed origin's answer still does, redirected or not.
    await authFetch(via(302, api('/pushed')));
    await authFetch(api('/pushed'));
    expect(calls.onResponse).toEqual([api('/pushed'), api('/pushed')]);
    await authFetch.dispose();
  });

  it('a 401 from a foreign origin a redirect led to starts no refresh and no replay', async () => {
    const { authFetch, calls } = client(fetch);
    const since = hosts.seen.length;
    const response = await authFetch(via(302, hosts.url('evil.api.test', '/unauthorized')));
    expect(response.status).toBe(401);
    expect(calls.refresh).toBe(0);
    expect(seenFrom(since).map(([host]) => host)).toEqual(['api.test', 'evil.api.test']);
    await authFetch.dispose();
  });
});

describe('the request URL is read once', () => {
  // Node's own fetch and Request: 127.0.0.1 is allowed, localhost (the same server) is not.
  const own = (path: string) => hosts.url('127.0.0.1', path);
  const foreign = (path: string) => hosts.url('localhost', path);
  const direct = () =>
    createAuthFetch({
      refresh: async () => ({ accessToken: 'at_fresh' }),
      allowedOrigins: [own('')],
      tokens: { accessToken: 'at_first', refreshToken: 'rt' },
    });

  it('an input whose toString() changes between reads cannot steer the token', async () => {
    const authFetch = direct();
    let reads = 0;
    // Allowed the first time it is read, foreign after that.
    const shifty = { toString: () => (reads++ === 0 ? own('/me') : foreign('/me')) };
    const since = hosts.seen.length;
    const response = await authFetch(shifty as unknown as string);
    expect(await response.json()).toMatchObject({ host: '127.0.0.1' });
    expect(seenFrom(since)).toEqual([['127.0.0.1', 'Bearer at_first']]);
    expect(reads).toBe(1);
    await authFetch.dispose();
  });

  it('a Request whose url getter lies is judged by the URL fetch really uses', async () => {
    const authFetch = direct();
    class Lying extends Request {
      override get url() {
        return own('/me');
      }
    }
    const since = hosts.seen.length;
    await authFetch(new Lying(foreign('/me')));
    expect(seenFrom(since)).toEqual([['localhost', null]]);
    await authFetch.dispose();
  });
});
