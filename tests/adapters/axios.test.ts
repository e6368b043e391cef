import axios, { type AxiosInstance } from 'axios';
import { delay, http, HttpResponse } from 'msw';
import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { attachAuth } from '../../adapters/axios/index.js';
import { ErrorCode, isAuthchartError } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, issuedSecrets, testUrls, tokenServerHandlers } from '../../adapters/testing/index.js';
import { mock, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

function setup(adapter: 'http' | 'fetch') {
  const server = createTokenServer({ accessTokenTtlSeconds: 60 });
  mock.use(...tokenServerHandlers(server));
  const login = server.login();
  const api = axios.create({ adapter, baseURL: testUrls.api });
  const auth = attachAuth(api, {
    refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'axios-tests' }),
    allowedOrigins: [new URL(testUrls.api).origin],
    tokens: { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + 60_000 },
  });
  return { server, api, auth };
}

const settle = async <T>(promise: Promise<T>, ms = 300) => {
  const outcome = track(promise);
  await vi.advanceTimersByTimeAsync(ms);
  return outcome;
};

describe.each(['http', 'fetch'] as const)('authchart/axios with the %s adapter', (adapter) => {
  it('50 concurrent 401s through one instance: one token call, 50 successes', async () => {
    const { server, api } = setup(adapter);
    server.expireAccessTokens();
    const all = await settle(Promise.all(Array.from({ length: 50 }, (_, i) => api.get(`/items/${i}`))));
    expect(all.error).toBeUndefined();
    expect((all.value as { status: number }[]).map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(server.stats.refreshCalls).toBe(1);
  });

  it('a 401 that arrives while the refresh is running is queued and replayed, never rejected', async () => {
    const { server, api, auth } = setup(adapter);
    server.expireAccessTokens();
    server.fault({ type: 'delay', ms: 500 });
    // /late is sent with the expired token now, and its 401 comes back mid-refresh.
    let lateCalls = 0;
    mock.use(
      http.get(`${testUrls.api}/late`, async ({ request }) => {
        if (lateCalls++ > 0) return HttpResponse.json({ auth: request.headers.get('authorization') !== null });
        await delay(300);
        return HttpResponse.json({ error: 'invalid_token' }, { status: 401 });
      }),
    );
    const late = track(api.get('/late'));
    const first = track(api.get('/a'));
    await vi.advanceTimersByTimeAsync(150);
    expect(auth.getStatus().state).toBe('refreshing');
    await vi.advanceTimersByTimeAsync(200);
    expect(late.settled).toBe(false);
    expect(auth.getStatus()).toMatchObject({ state: 'refreshing', queued: 2 });
    await vi.advanceTimersByTimeAsync(500);
    expect(first.error).toBeUndefined();
    expect(late.error).toBeUndefined();
    expect((late.value as { status: number }).status).toBe(200);
    expect(server.stats.refreshCalls).toBe(1);
  });

  it('POST bodies arrive intact on the replay', async () => {
    const { server, api } = setup(adapter);
    server.expireAccessTokens();
    const json = await settle(api.post('/echo', { amount: 42 }));
    expect(JSON.parse((json.value as { data: { body: string } }).data.body)).toEqual({ amount: 42 });
    server.expireAccessTokens();
    const form = await settle(api.post('/echo', new URLSearchParams({ a: '1' })));
    expect((form.value as { data: { body: string } }).data.body).toBe('a=1');
  });

  it('a replayed request that gets 401 again fails once with UNAUTHORIZED_AFTER_REFRESH', async () => {
    const { server, api } = setup(adapter);
    let hits = 0;
    mock.use(
      http.get(`${testUrls.api}/never`, () => {
        hits++;
        return HttpResponse.json({}, { status: 401 });
      }),
    );
    const r = await settle(api.get('/never'));
    expect(isAuthchartError(r.error, ErrorCode.UNAUTHORIZED_AFTER_REFRESH)).toBe(true);
    expect(hits).toBe(2);
    expect(server.stats.refreshCalls).toBe(1);
  });

  it('three permanent failures reject the queued requests with SESSION_EXPIRED', async () => {
    const { server, api, auth } = setup(adapter);
    server.expireAccessTokens();
    server.fault({ type: 'invalidGrant' }, { type: 'invalidGrant' }, { type: 'invalidGrant' });
    const r = await settle(Promise.allSettled([api.get('/a'), api.get('/b')]), 4000);
    const results = r.value as PromiseSettledResult<unknown>[];
    expect(results.every((x) => x.status === 'rejected' && isAuthchartError(x.reason, ErrorCode.SESSION_EXPIRED))).toBe(true);
    expect(auth.getStatus().state).toBe('loggedOut');
  });

  it('no token reaches another origin', async () => {
    const { api } = setup(adapter);
    const seen: (string | null)[] = [];
    mock.use(
      http.get('https://elsewhere.test/x', ({ request }) => {
        seen.push(request.headers.get('authorization'));
        return HttpResponse.json({});
      }),
    );
    await api.get('https://elsewhere.test/x');
    expect(seen).toEqual([null]);
  });

  it('errors that reach the app carry no token', async () => {
    const { api } = setup(adapter);
    mock.use(http.get(`${testUrls.api}/boom`, () => HttpResponse.json({ error: 'x' }, { status: 500 })));
    const r = await settle(api.get('/boom'));
    expect(axios.isAxiosError(r.error)).toBe(true);
    const text = JSON.stringify((r.error as { toJSON(): unknown }).toJSON()) + String((r.error as { request?: { _header?: string } }).request?._header ?? '');
    for (const secret of issuedSecrets()) expect(text).not.toContain(secret);
    // And re-sending the config gets a token again.
    mock.use(http.get(`${testUrls.api}/boom`, ({ request }) => HttpResponse.json({ auth: request.headers.get('authorization')?.slice(0, 7) })));
    const again = await settle(api.request((r.error as { config: object }).config));
    expect((again.value as { data: { auth: string } }).data.auth).toBe('Bearer ');
  });
});

describe('authchart/axios specifics', () => {
  it('a one-shot Node stream body fails with NON_REPLAYABLE_BODY and still starts the refresh', async () => {
    const { server, api } = setup('http');
    server.expireAccessTokens();
    const r = await settle(api.post('/echo', Readable.from(['streamed']), { headers: { 'content-type': 'text/plain' } }));
    expect(isAuthchartError(r.error, ErrorCode.NON_REPLAYABLE_BODY)).toBe(true);
    expect(server.stats.refreshCalls).toBe(1);
  });

  it('detach() removes the interceptors', async () => {
    const { api, auth } = setup('fetch');
    auth.detach();
    const seen: (string | null)[] = [];
    mock.use(
      http.get(`${testUrls.api}/x`, ({ request }) => {
        seen.push(request.headers.get('authorization'));
        return HttpResponse.json({});
      }),
    );
    await api.get('/x');
    expect(seen).toEqual([null]);
  });

  it('shares a session with another front end', async () => {
    const { server, api, auth } = setup('fetch');
    const second: AxiosInstance = axios.create({ baseURL: testUrls.api });
    attachAuth(second, { session: auth.session, allowedOrigins: [new URL(testUrls.api).origin] });
    server.expireAccessTokens();
    const r = await settle(Promise.all([api.get('/a'), second.get('/b')]));
    expect(r.error).toBeUndefined();
    expect(server.stats.refreshCalls).toBe(1);
  });
});

describe('authchart/axios: the token goes only where axios really sends the request', () => {
  const ALLOWED = 'https://api.example.test';
  // [baseURL, url, allowAbsoluteUrls]
  const cases: [string | undefined, string | undefined, boolean | undefined][] = [
    [ALLOWED, '/items/1', undefined],
    [ALLOWED, 'items/1', undefined],
    [`${ALLOWED}/v1/`, '../items', undefined],
    [ALLOWED, '', undefined],
    [ALLOWED, undefined, undefined],
    [`${ALLOWED}?q=1`, 'x', undefined],
    ['HTTPS://API.EXAMPLE.TEST:443', '/x', undefined],
    [ALLOWED, '//evil.test/x', undefined],
    [ALLOWED, ' //evil.test/x', undefined],
    [ALLOWED, '\\\\evil.test/x', undefined],
    [ALLOWED, '/\\evil.test/x', undefined],
    [ALLOWED, '@evil.test/x', undefined],
    [ALLOWED, 'https://evil.test/x', undefined],
    [ALLOWED, 'https://api.example.test@evil.test/x', undefined],
    [ALLOWED, 'http:evil.test', undefined],
    [ALLOWED, ' https:evil.test', undefined],
    ['https://evil.test', `${ALLOWED}/x`, undefined],
    ['https://evil.test', `${ALLOWED}/x`, false],
    [ALLOWED, 'https://evil.test/x', false],
    ['https://api.example.test@evil.test', '/x', undefined],
    ['https://api.example.test.evil.test', '/x', undefined],
    ['https://evil.test\\api.example.test', '/x', undefined],
    ['/api', '/x', undefined],
    [undefined, `${ALLOWED}/x`, undefined],
    [undefined, '/x', undefined],
  ];

  it('attaches the token exactly when the URL axios builds (getUri) has an allowed origin, every time', async () => {
    const sent = new Map<string, boolean[]>();
    const instance = axios.create({
      adapter: async (config) => {
        const key = String(config.headers.get('x-case'));
        sent.set(key, [...(sent.get(key) ?? []), config.headers.get('authorization') === 'Bearer secret']);
        return { data: null, status: 200, statusText: 'OK', headers: {}, config, request: {} };
      },
    });
    const auth = attachAuth(instance, {
      refresh: async () => ({ accessToken: 'unused' }),
      allowedOrigins: [ALLOWED],
      tokens: { accessToken: 'secret', refreshToken: 'r' },
    });
    const oracle = cases.map(([baseURL, url, allowAbsoluteUrls]) => {
      try {
        return new URL(instance.getUri({ baseURL, url, allowAbsoluteUrls })).origin === ALLOWED;
      } catch {
        return false;
      }
    });
    // The oracle agrees with a careful reading of each case (the first 7 and 9–12 stay on
    // the base; an absolute url wins unless allowAbsoluteUrls is false).
    expect(oracle.map((ok, i) => (ok ? i : -1)).filter((i) => i >= 0)).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 16, 18, 23]);
    for (let round = 0; round < 2; round++) {
      for (const [i, [baseURL, url, allowAbsoluteUrls]] of cases.entries()) {
        await instance.request({ baseURL, url, allowAbsoluteUrls, headers: { 'x-case': String(i) } }).catch(() => undefined);
      }
    }
    for (const [i, allowed] of oracle.entries()) {
      // Sent twice (the first decision and the remembered one), with the token iff allowed.
      expect({ case: cases[i], attached: sent.get(String(i)) }).toEqual({ case: cases[i], attached: [allowed, allowed] });
    }
    await auth.dispose();
  });
});
