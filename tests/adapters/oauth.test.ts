import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, isAuthchartError, RefreshError } from '../../adapters/index.js';
import { classifyTokenFailure } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, testUrls, tokenServerHandlers, type TokenServerFault } from '../../adapters/testing/index.js';
import { createHarness, mock, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

const signal = () => new AbortController().signal;

/** Capture what reaches the token endpoint. */
function captureTokenRequests() {
  const seen: { form: URLSearchParams; headers: Headers }[] = [];
  mock.use(
    http.post(testUrls.tokenEndpoint, async ({ request }) => {
      seen.push({ form: new URLSearchParams(await request.text()), headers: request.headers });
      return HttpResponse.json({ access_token: 'at_new', token_type: 'bearer', expires_in: 300, refresh_token: 'rt_new' });
    }),
  );
  return seen;
}

describe('the refresh_token grant on the wire (RFC 6749 §6)', () => {
  it('public client: form-encoded POST with grant_type, refresh_token and client_id, no Authorization', async () => {
    const seen = captureTokenRequests();
    const result = await oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'spa' })('rt_old', { signal: signal() });
    expect(result).toEqual({ accessToken: 'at_new', refreshToken: 'rt_new', expiresIn: 300 });
    const [call] = seen;
    expect(call!.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/);
    expect(call!.headers.get('authorization')).toBeNull();
    expect(Object.fromEntries(call!.form)).toEqual({ grant_type: 'refresh_token', refresh_token: 'rt_old', client_id: 'spa' });
  });

  it('confidential client: Basic authentication by default', async () => {
    const seen = captureTokenRequests();
    await oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'web app', clientSecret: 's3cret:x' })('rt_old', { signal: signal() });
    const basic = seen[0]!.headers.get('authorization')!;
    expect(basic.startsWith('Basic ')).toBe(true);
    // RFC 6749 §2.3.1: form-urlencode id and secret before base64.
    expect(atob(basic.slice(6))).toBe('web+app:s3cret%3Ax');
    expect(seen[0]!.form.get('client_secret')).toBeNull();
  });

  it('confidential client: client_secret_post puts the secret in the body', async () => {
    const seen = captureTokenRequests();
    await oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'web', clientSecret: 'pw', clientAuthentication: 'client_secret_post' })('rt_old', {
      signal: signal(),
    });
    expect(seen[0]!.headers.get('authorization')).toBeNull();
    expect(seen[0]!.form.get('client_id')).toBe('web');
    expect(seen[0]!.form.get('client_secret')).toBe('pw');
  });

  it('sends scope and extra parameters when given', async () => {
    const seen = captureTokenRequests();
    await oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'spa', scope: 'read', additionalParameters: { resource: 'https://api' } })('rt', {
      signal: signal(),
    });
    expect(seen[0]!.form.get('scope')).toBe('read');
    expect(seen[0]!.form.get('resource')).toBe('https://api');
  });

  it('refuses a plain http token endpoint that is not loopback', async () => {
    const refresh = oauthRefresher({ tokenEndpoint: 'http://auth.example.com/token', clientId: 'spa' });
    const error = await refresh('rt', { signal: signal() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RefreshError);
    expect(error).toMatchObject({ kind: 'permanent', reason: 'INSECURE_ENDPOINT' });
  });

  it('a client rejected by the server (invalid_client, 401) is a permanent failure', async () => {
    const server = createTokenServer({ clientId: 'web', clientSecret: 'right' });
    mock.use(...tokenServerHandlers(server));
    const { refresh_token } = server.login();
    const error = await oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'web', clientSecret: 'wrong' })(refresh_token, {
      signal: signal(),
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'permanent', reason: 'invalid_client', status: 401 });
  });
});

describe('classification (R5)', () => {
  const cases: [TokenServerFault, { kind: string; reason: string; status?: number; retryAfterMs?: number }][] = [
    [
      { type: 'unavailable', retryAfterSeconds: 7 },
      { kind: 'transient', reason: 'HTTP_503', status: 503, retryAfterMs: 7000 },
    ],
    [
      { type: 'rateLimited', retryAfterSeconds: 2 },
      { kind: 'transient', reason: 'slow_down', status: 429, retryAfterMs: 2000 },
    ],
    [{ type: 'reset' }, { kind: 'transient', reason: 'NETWORK' }],
    [{ type: 'lostResponse' }, { kind: 'transient', reason: 'NETWORK' }],
    [{ type: 'invalidGrant' }, { kind: 'permanent', reason: 'invalid_grant', status: 400 }],
    [{ type: 'html' }, { kind: 'transient', reason: 'INVALID_TOKEN_RESPONSE' }],
  ];
  it.each(cases)('%o is %o', async (fault, expected) => {
    const server = createTokenServer();
    mock.use(...tokenServerHandlers(server));
    const { refresh_token } = server.login();
    server.fault(fault);
    const error = await oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'spa' })(refresh_token, { signal: signal() }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RefreshError);
    expect(error).toMatchObject(expected);
  });

  it('statuses: 408, 429, 5xx transient; 400, 401, 403 permanent; server_error transient whatever the status', () => {
    expect([408, 429, 500, 502, 503, 504].map((s) => classifyTokenFailure(s))).toEqual(Array(6).fill('transient'));
    expect([400, 401, 403, 404].map((s) => classifyTokenFailure(s))).toEqual(Array(4).fill('permanent'));
    expect(classifyTokenFailure(400, 'invalid_grant')).toBe('permanent');
    expect(classifyTokenFailure(400, 'server_error')).toBe('transient');
  });
});

describe('rotation through the session', () => {
  it('stores the rotated refresh token before releasing, and presents it next time', async () => {
    const { server, authFetch, api, initialRefreshToken } = await createHarness();
    for (let round = 0; round < 3; round++) {
      server.expireAccessTokens();
      const r = track(authFetch(api(`/r${round}`)));
      await vi.advanceTimersByTimeAsync(200);
      expect((r.value as Response).status).toBe(200);
    }
    const presented = server.calls.map((c) => c.refreshToken);
    expect(presented[0]).toBe(initialRefreshToken);
    expect(new Set(presented).size).toBe(3);
    expect(server.calls.every((c) => c.outcome === 'rotated')).toBe(true);
    expect(server.stats.reuseDetected).toBe(0);
  });

  it('keeps the old refresh token when the server sends none', async () => {
    const { server, authFetch, api, initialRefreshToken } = await createHarness({ server: { omitRefreshToken: true } });
    for (let round = 0; round < 2; round++) {
      server.expireAccessTokens();
      const r = track(authFetch(api(`/r${round}`)));
      await vi.advanceTimersByTimeAsync(200);
      expect((r.value as Response).status).toBe(200);
    }
    expect(server.calls.map((c) => c.refreshToken)).toEqual([initialRefreshToken, initialRefreshToken]);
    expect(authFetch.getStatus().hasRefreshToken).toBe(true);
  });

  it('a token endpoint that never answers counts as a transient TIMEOUT after refreshTimeoutMs (default 10 s)', async () => {
    const { server, authFetch, api } = await createHarness({ client: { maxWaitMs: 120_000 } });
    const failures: unknown[] = [];
    authFetch.on('refreshFailed', (e) => failures.push(e.error));
    server.expireAccessTokens();
    server.fault({ type: 'delay', ms: 60_000 });
    const r = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(100 + 9_999);
    expect(failures).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(2);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ kind: 'transient', reason: 'TIMEOUT' });
    await vi.advanceTimersByTimeAsync(1_100);
    expect((r.value as Response).status).toBe(200);
  });

  it('a user function refresher works the same way, and its unknown errors are transient', async () => {
    let calls = 0;
    const { authFetch, server, api } = await createHarness({
      client: {
        refresh: async () => {
          calls++;
          if (calls === 1) throw new Error('boom');
          const fresh = server.login();
          return { accessToken: fresh.access_token, refreshToken: fresh.refresh_token, expiresIn: fresh.expires_in };
        },
      },
    });
    server.expireAccessTokens();
    const r = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(1200);
    expect((r.value as Response).status).toBe(200);
    expect(authFetch.getStatus().lastError).toBeNull();
    expect(calls).toBe(2);
  });

  it('a user refresher that returns no access token gives INVALID_TOKEN_RESPONSE', async () => {
    const { authFetch, server, api } = await createHarness({ client: { refresh: async () => ({}) as never, maxWaitMs: 60_000 } });
    server.expireAccessTokens();
    const r = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(8000);
    expect(isAuthchartError(r.error, ErrorCode.REFRESH_UNAVAILABLE)).toBe(true);
    expect(authFetch.getStatus().lastError).toMatchObject({ code: 'INVALID_TOKEN_RESPONSE', kind: 'transient' });
  });
});
