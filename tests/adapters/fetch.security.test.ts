import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { ErrorCode, isAuthchartError, type LogEntry } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { issuedSecrets, testUrls, type TokenServerFault } from '../../adapters/testing/index.js';
import { createHarness, mock, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

describe('the bearer token stays with allowed origins', () => {
  const foreign = [
    'https://evil.test/steal',
    'https://api.authchart.test.evil.test/api/x',
    'http://api.authchart.test/api/x',
    'https://api.authchart.test:8443/api/x',
    'https://auth.authchart.test/userinfo',
  ];

  it.each(foreign)('no Authorization header reaches %s', async (url) => {
    const { authFetch } = await createHarness();
    const seen: (string | null)[] = [];
    mock.use(
      http.all(url, ({ request }) => {
        seen.push(request.headers.get('authorization'));
        return HttpResponse.json({}, { status: 401 });
      }),
    );
    const response = await authFetch(url);
    // Passed through untouched: no token, no refresh, the 401 is the caller's.
    expect(response.status).toBe(401);
    expect(seen).toEqual([null]);
    expect(authFetch.getStatus().state).toBe('idle');
  });

  it('URL strings that only look like an allowed origin never get the token, on first sight or again', async () => {
    const sent: { url: string; authorization: string | null }[] = [];
    const authFetch = createAuthFetch({
      refresh: async () => ({ accessToken: 'unused' }),
      allowedOrigins: ['https://api.example.test'],
      tokens: { accessToken: 'secret', refreshToken: 'r' },
      fetch: async (input, init) => {
        sent.push({ url: String(input), authorization: new Headers(init?.headers).get('authorization') });
        return new Response(null);
      },
    });
    const cases: [url: string, allowed: boolean][] = [
      ['https://api.example.test/x', true],
      ['HTTPS://API.EXAMPLE.TEST/x', true],
      ['https://api.example.test:443/x', true],
      ['https://api.example.test', true],
      ['https://api.example.test?to=https://evil.test', true],
      ['https://api.example.test#@evil.test', true],
      ['https://api.exa\tmple.test/x', true], // the URL parser drops tabs
      [' https://api.example.test/x', true], // and leading spaces
      ['https://api.example.test@evil.test/x', false],
      ['https://u:p@evil.test/x', false],
      ['https://api.example.test.evil.test/x', false],
      ['https://api.example.test:8443/x', false],
      ['http://api.example.test/x', false],
      ['https://evil.test\\@api.example.test/x', false], // a backslash ends the authority, as / does
      ['https://evil.test\\api.example.test', false],
      ['https:///api.example.test/x', true], // extra slashes are skipped
      ['https://\\evil.test/api.example.test', false],
      ['https://api.example.test:bad/x', false], // not a URL: passed on untouched
    ];
    const origin = (url: string) => {
      try {
        return new URL(url).origin;
      } catch {
        return null;
      }
    };
    // The table agrees with the URL parser…
    expect(cases.map(([url]) => origin(url) === 'https://api.example.test')).toEqual(cases.map(([, allowed]) => allowed));
    // …and so does authFetch, the first time it sees an origin and from memory after.
    for (let round = 0; round < 2; round++) {
      for (const [url] of cases) await authFetch(url);
    }
    expect(sent.map((s) => s.authorization !== null)).toEqual([...cases, ...cases].map(([, allowed]) => allowed));
    expect(sent.filter((s) => s.authorization !== null).every((s) => s.authorization === 'Bearer secret')).toBe(true);
    await authFetch.dispose();
  });

  it('outside a browser, allowedOrigins must be given', () => {
    expect(() => createAuthFetch({ refresh: async () => ({ accessToken: 'x' }) })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_OPTIONS }));
    expect(() => createAuthFetch({ refresh: async () => ({ accessToken: 'x' }), allowedOrigins: ['not a url'] })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTIONS }),
    );
  });

  it('a caller that sets its own Authorization header keeps it', async () => {
    const { authFetch, api } = await createHarness();
    let seen: string | null = null;
    mock.use(
      http.get(api('/own'), ({ request }) => {
        seen = request.headers.get('authorization');
        return HttpResponse.json({});
      }),
    );
    await authFetch(api('/own'), { headers: { Authorization: 'Basic abc' } });
    expect(seen).toBe('Basic abc');
  });
});

describe('malformed token responses', () => {
  const malformed: TokenServerFault['type'][] = ['html', 'missingFields', 'wrongTokenType'];

  it.each(malformed)('%s: a typed INVALID_TOKEN_RESPONSE failure, no crash, and the next good answer is used', async (type) => {
    const { server, authFetch, api } = await createHarness();
    const failures: unknown[] = [];
    authFetch.on('refreshFailed', (event) => failures.push(event.error));
    server.expireAccessTokens();
    server.fault({ type } as TokenServerFault);
    const request = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(1200);
    expect(failures).toHaveLength(1);
    expect(isAuthchartError(failures[0], ErrorCode.INVALID_TOKEN_RESPONSE)).toBe(true);
    expect((failures[0] as { kind: string }).kind).toBe('transient');
    expect((request.value as Response).status).toBe(200);
  });

  it('negativeExpiresIn: the Bearer access token is used (born expired, R12) and the refusal is a warning', async () => {
    const { server, authFetch, api } = await createHarness();
    const failures: unknown[] = [];
    const warnings: unknown[] = [];
    authFetch.on('refreshFailed', (event) => failures.push(event.error));
    authFetch.on('warning', (event) => warnings.push(event.error));
    server.expireAccessTokens();
    server.fault({ type: 'negativeExpiresIn' });
    const request = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(200);
    expect(failures).toHaveLength(0);
    expect(warnings).toHaveLength(1);
    expect(isAuthchartError(warnings[0], ErrorCode.INVALID_TOKEN_RESPONSE)).toBe(true);
    // The fault's access token is not one the resource server knows: the replay is refused.
    expect(isAuthchartError(request.error, ErrorCode.UNAUTHORIZED_AFTER_REFRESH)).toBe(true);
  });

  it('only malformed answers: the request ends with REFRESH_UNAVAILABLE caused by INVALID_TOKEN_RESPONSE', async () => {
    const { server, authFetch, api } = await createHarness({ client: { maxWaitMs: 60_000 } });
    server.expireAccessTokens();
    server.fault({ type: 'html' }, { type: 'missingFields' }, { type: 'wrongTokenType' }, { type: 'html' });
    const request = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(8000);
    expect(isAuthchartError(request.error, ErrorCode.REFRESH_UNAVAILABLE)).toBe(true);
    expect(isAuthchartError((request.error as Error).cause, ErrorCode.INVALID_TOKEN_RESPONSE)).toBe(true);
    expect(authFetch.getStatus()).toMatchObject({ status: 'authenticated', lastError: { code: 'INVALID_TOKEN_RESPONSE' } });
  });
});

/** Everything reachable from an error: message, stack, own properties, causes. */
function describeDeep(value: unknown, seen = new Set<unknown>()): string {
  if (value === null || value === undefined || seen.has(value)) return '';
  if (typeof value !== 'object') return String(value);
  seen.add(value);
  const parts: string[] = [];
  if (value instanceof Error) parts.push(value.message, value.stack ?? '');
  for (const key of Reflect.ownKeys(value)) {
    const v = (value as Record<PropertyKey, unknown>)[key];
    if (typeof v !== 'function' && !(v instanceof Response)) parts.push(describeDeep(v, seen));
  }
  if (value instanceof Error) parts.push(describeDeep(value.cause, seen));
  return parts.join('\n');
}

describe('no secret in errors, events, status or logs', () => {
  it('a herd, every kind of failure and a logout leak no token anywhere', async () => {
    const logs: LogEntry[] = [];
    const { server, authFetch, api } = await createHarness({ client: { logger: (e) => logs.push(e), maxWaitMs: 60_000 } });
    const seen: unknown[] = [];
    authFetch.on('refreshFailed', (e) => seen.push(e));
    authFetch.on('refreshed', (e) => seen.push(e));
    authFetch.on('loggedOut', (e) => seen.push(e));
    const outcomes: { error?: unknown }[] = [];

    server.expireAccessTokens();
    server.fault(
      { type: 'rotatedButMalformed', problem: 'noAccessToken' },
      { type: 'wrongTokenType' },
      { type: 'unavailable', retryAfterSeconds: 1 },
      { type: 'lostResponse' },
    );
    outcomes.push(...Array.from({ length: 10 }, () => track(authFetch(api('/a')))));
    await vi.advanceTimersByTimeAsync(10_000);
    seen.push(authFetch.getStatus());
    // The lost response rotated the token away: now every try is a reuse, then revoked.
    server.expireAccessTokens();
    outcomes.push(track(authFetch(api('/b'))));
    await vi.advanceTimersByTimeAsync(10_000);
    seen.push(authFetch.getStatus());
    outcomes.push(track(authFetch(api('/c'))));
    await vi.advanceTimersByTimeAsync(10);

    const errors = outcomes.map((o) => o.error).filter(Boolean);
    expect(errors.length).toBeGreaterThanOrEqual(11);
    expect(authFetch.getStatus().status).toBe('loggedOut');
    const text = [...errors, ...seen, ...logs]
      .map((v) => describeDeep(v) + JSON.stringify(v, (_k, v) => (v instanceof Response ? '[Response]' : v)))
      .join('\n');
    const secrets = issuedSecrets();
    expect(secrets.length).toBeGreaterThan(3);
    for (const secret of secrets) expect(text).not.toContain(secret);
  });

  it('errors thrown by the OAuth refresher carry no response body (it may hold tokens)', async () => {
    const refresh = oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'c' });
    mock.use(http.post(testUrls.tokenEndpoint, () => HttpResponse.json({ refresh_token: 'rt_SHOULD_NOT_LEAK', access_token: 123, token_type: 'Bearer' })));
    const error = await refresh('rt_PRESENTED_SECRET', { signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(isAuthchartError(error, ErrorCode.INVALID_TOKEN_RESPONSE)).toBe(true);
    const text = describeDeep(error);
    expect(text).not.toContain('rt_SHOULD_NOT_LEAK');
    expect(text).not.toContain('rt_PRESENTED_SECRET');
  });
});
