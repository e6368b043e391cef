/**
 * `cookieRefresher`: what it sends and how it reads answers. The refresh endpoint here is
 * a `fetch` that records the request (the cookie itself is the browser's business; the
 * real cookie round trip is tests/browser/cookie-refresh.test.ts, in Chromium).
 */
import { describe, expect, it } from 'vitest';
import { createSession, ErrorCode, isAuthchartError, RefreshError } from '../../adapters/index.js';
import { cookieRefresher } from '../../adapters/presets/index.js';

function endpoint(answer: () => Response) {
  const requests: { url: string; init: RequestInit }[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    requests.push({ url: String(input), init: init ?? {} });
    return answer();
  };
  return { requests, fetch: fetch as typeof globalThis.fetch };
}

const signal = new AbortController().signal;

describe('cookieRefresher', () => {
  it('POSTs with credentials: include, no refresh token in the request, and reads access_token and expires_in', async () => {
    const server = endpoint(() => Response.json({ access_token: 'at-2', expires_in: 300 }));
    const refresh = cookieRefresher({ url: 'https://app.example.com/auth/refresh', headers: { 'x-csrf-token': 'csrf' }, fetch: server.fetch });
    expect(await refresh('', { signal })).toEqual({ accessToken: 'at-2', expiresIn: 300 });
    const [request] = server.requests;
    expect(request).toMatchObject({ url: 'https://app.example.com/auth/refresh', init: { method: 'POST', credentials: 'include', body: undefined, signal } });
    expect(request!.init.headers).toEqual({ accept: 'application/json', 'x-csrf-token': 'csrf' });
  });

  it('a refresh token in the answer body is never taken into JavaScript (the cookie is the refresh token)', async () => {
    const server = endpoint(() => Response.json({ access_token: 'at-2', refresh_token: 'leaked', expires_in: 300 }));
    const answer = await cookieRefresher({ url: '/auth/refresh', fetch: server.fetch })('', { signal });
    expect(answer).toEqual({ accessToken: 'at-2', expiresIn: 300 });
  });

  it.each([
    [401, 'permanent'],
    [403, 'permanent'],
    [429, 'transient'],
    [503, 'transient'],
  ] as const)('HTTP %i is %s', async (status, kind) => {
    const server = endpoint(() => Response.json({ error: 'invalid_grant' }, { status, headers: { 'retry-after': '2' } }));
    const error = await cookieRefresher({ url: '/auth/refresh', fetch: server.fetch })('', { signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RefreshError);
    expect(error).toMatchObject({ kind, status, reason: 'invalid_grant' });
  });

  it('with a session (refreshTokenIn: cookie): a herd after expiry makes one call and gets the new token', async () => {
    let calls = 0;
    const server = endpoint(() => Response.json({ access_token: `at-${++calls + 1}`, expires_in: 300 }));
    const session = createSession({
      refresh: cookieRefresher({ url: '/auth/refresh', fetch: server.fetch }),
      refreshTokenIn: 'cookie',
      tokens: { accessToken: 'at-1', expiresAt: Date.now() - 1 },
      wake: false,
      debounceMs: 0,
    });
    const tokens = await Promise.all(Array.from({ length: 10 }, () => session.getAccessToken()));
    expect(new Set(tokens)).toEqual(new Set(['at-2']));
    expect(calls).toBe(1);
    await session.dispose();
  });

  it('an endpoint that keeps refusing the cookie ends the session (three permanent failures)', async () => {
    const server = endpoint(() => Response.json({ error: 'invalid_grant' }, { status: 401 }));
    const session = createSession({
      refresh: cookieRefresher({ url: '/auth/refresh', fetch: server.fetch }),
      refreshTokenIn: 'cookie',
      tokens: { accessToken: 'at-1', expiresAt: Date.now() - 1 },
      wake: false,
      debounceMs: 0,
      backoffBaseMs: 1,
    });
    const error = await session.getAccessToken().catch((e: unknown) => e);
    expect(isAuthchartError(error, ErrorCode.SESSION_EXPIRED)).toBe(true);
    expect(server.requests).toHaveLength(3);
    await session.dispose();
  });
});
