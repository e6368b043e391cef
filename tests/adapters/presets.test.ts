import { HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { createSession, ErrorCode, isAuthchartError, type Refresher } from '../../adapters/index.js';
import { jsonRefresher, spotifyRefresher, supabaseRefresher } from '../../adapters/presets/index.js';
import { mock, track, useMockNetwork } from '../support/harness.js';
import { fastApi, simpleJwt, spotify, supabase } from '../support/providers.js';

useMockNetwork();

/** 20 callers want a fresh token at once, twice in a row; returns the session. */
async function herdTwice(refresh: Refresher, refreshToken: string) {
  const session = createSession({ refresh, tokens: { accessToken: 'expired', refreshToken, expiresAt: Date.now() - 1 } });
  for (let round = 0; round < 2; round++) {
    const tokens = track(Promise.all(Array.from({ length: 20 }, () => session.getAccessToken())));
    await vi.advanceTimersByTimeAsync(50);
    expect(tokens.error).toBeUndefined();
    expect(new Set(tokens.value as string[]).size).toBe(1);
    vi.setSystemTime(Date.now() + 24 * 3_600_000); // expire whatever came back
  }
  return session;
}

async function permanentThenLoggedOut(refresh: Refresher, refreshToken: string) {
  const session = createSession({ refresh, tokens: { accessToken: 'expired', refreshToken, expiresAt: Date.now() - 1 } });
  const token = track(session.getAccessToken());
  await vi.advanceTimersByTimeAsync(4000);
  return { session, error: token.error };
}

describe('Django SimpleJWT (jsonRefresher defaults)', () => {
  it('rotates: one call per herd, the rotated token presented next, expiry from the JWT exp', async () => {
    const server = simpleJwt();
    mock.use(server.handler);
    const session = await herdTwice(jsonRefresher({ url: server.url }), server.state.current);
    expect(server.state.calls).toBe(2);
    expect(session.getStatus().expiresAt).toBeGreaterThan(0);
  });

  it('a blacklisted token (401 token_not_valid) is permanent: logged out after three', async () => {
    const server = simpleJwt();
    mock.use(server.handler);
    const { session, error } = await permanentThenLoggedOut(jsonRefresher({ url: server.url }), 'rt_not_the_current_one');
    expect(isAuthchartError(error, ErrorCode.SESSION_EXPIRED)).toBe(true);
    expect(session.getStatus()).toMatchObject({
      state: 'loggedOut',
      lastError: { code: 'REFRESH_FAILED', reason: 'token_not_valid', status: 401, kind: 'permanent' },
    });
    expect(server.state.calls).toBe(3);
  });

  it('a 503 is transient and retried', async () => {
    const server = simpleJwt();
    mock.use(server.handler);
    server.state.failNext.push(HttpResponse.text('Service Unavailable', { status: 503 }));
    const session = createSession({
      refresh: jsonRefresher({ url: server.url }),
      tokens: { accessToken: 'x', refreshToken: server.state.current, expiresAt: Date.now() - 1 },
    });
    const token = track(session.getAccessToken());
    await vi.advanceTimersByTimeAsync(1100);
    expect(typeof token.value).toBe('string');
    expect(server.state.calls).toBe(2);
  });
});

describe('FastAPI-style JSON endpoint (field names configured)', () => {
  const refresher = (url: string) =>
    jsonRefresher({ url, requestField: 'refresh_token', accessTokenField: 'access_token', refreshTokenField: 'refresh_token' });

  it('rotates with one call per herd', async () => {
    const server = fastApi();
    mock.use(server.handler);
    const session = await herdTwice(refresher(server.url), server.state.current);
    expect(server.state.calls).toBe(2);
    expect(session.getStatus().status).toBe('authenticated');
  });

  it('a 200 that is not a token answer gives INVALID_TOKEN_RESPONSE', async () => {
    const server = fastApi();
    mock.use(server.handler);
    server.state.failNext.push(HttpResponse.json({ message: 'ok' }));
    const failures: unknown[] = [];
    const session = createSession({
      refresh: refresher(server.url),
      tokens: { accessToken: 'x', refreshToken: server.state.current, expiresAt: Date.now() - 1 },
    });
    session.on('refreshFailed', (e) => failures.push(e.error));
    const token = track(session.getAccessToken());
    await vi.advanceTimersByTimeAsync(1100);
    expect(isAuthchartError(failures[0], ErrorCode.INVALID_TOKEN_RESPONSE)).toBe(true);
    expect(typeof token.value).toBe('string');
  });
});

describe('Spotify', () => {
  it('PKCE public client: client_id in the form body, no Basic header, rotation', async () => {
    const server = spotify({ clientId: 'spotify-app', rotate: true });
    mock.use(server.handler);
    await herdTwice(spotifyRefresher({ clientId: 'spotify-app' }), server.state.current);
    expect(server.state.calls).toBe(2);
    expect(server.seen.every((s) => s.authorization === null && s.form.get('client_id') === 'spotify-app')).toBe(true);
  });

  it('with a client secret: Basic authentication; an answer without refresh_token keeps the old one', async () => {
    const server = spotify({ clientId: 'spotify-app', clientSecret: 'shh', rotate: false });
    mock.use(server.handler);
    const original = server.state.current;
    const session = await herdTwice(spotifyRefresher({ clientId: 'spotify-app', clientSecret: 'shh' }), original);
    expect(server.seen.map((s) => s.form.get('refresh_token'))).toEqual([original, original]);
    expect(server.seen.every((s) => s.authorization?.startsWith('Basic '))).toBe(true);
    expect(session.getStatus().hasRefreshToken).toBe(true);
  });

  it('"Refresh token revoked" (invalid_grant) is permanent', async () => {
    const server = spotify({ clientId: 'spotify-app', rotate: true });
    mock.use(server.handler);
    const { session } = await permanentThenLoggedOut(spotifyRefresher({ clientId: 'spotify-app' }), 'AQ_revoked');
    expect(session.getStatus()).toMatchObject({ state: 'loggedOut', lastError: { code: 'REFRESH_FAILED', reason: 'invalid_grant', kind: 'permanent' } });
  });
});

describe('Supabase Auth (GoTrue)', () => {
  const url = 'https://xyzcompany.supabase.co';
  const apiKey = 'sb_publishable_test_key';

  it('JSON body with the apikey header; rotation', async () => {
    const server = supabase({ url, apiKey });
    mock.use(server.handler);
    const session = await herdTwice(supabaseRefresher({ url: `${url}/`, apiKey }), server.state.current);
    expect(server.state.calls).toBe(2);
    expect(session.getStatus().expiresAt).toBeGreaterThan(0);
  });

  it("the expiry is expires_in on the local clock, not the server clock's expires_at (R12)", async () => {
    // The server's clock is a day behind: its expires_at is long past on ours.
    const server = supabase({ url, apiKey, serverClockOffsetMs: -86_400_000 });
    mock.use(server.handler);
    const session = createSession({
      refresh: supabaseRefresher({ url, apiKey }),
      tokens: { accessToken: 'x', refreshToken: server.state.current, expiresAt: Date.now() - 1 },
    });
    const sentAt = Date.now();
    const token = track(session.getAccessToken());
    await vi.advanceTimersByTimeAsync(50);
    expect(typeof token.value).toBe('string');
    const { expiresAt } = session.getStatus();
    expect(expiresAt).toBeGreaterThanOrEqual(sentAt + 3_600_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3_600_000);
    await session.dispose();
  });

  it('refresh_token_already_used is permanent; over_request_rate_limit (429) transient', async () => {
    const server = supabase({ url, apiKey });
    mock.use(server.handler);
    const first = server.state.current;
    server.state.failNext.push(
      HttpResponse.json(
        { code: 429, error_code: 'over_request_rate_limit', msg: 'Request rate limit reached' },
        { status: 429, headers: { 'retry-after': '2' } },
      ),
    );
    const session = createSession({
      refresh: supabaseRefresher({ url, apiKey }),
      tokens: { accessToken: 'x', refreshToken: first, expiresAt: Date.now() - 1 },
    });
    const token = track(session.getAccessToken());
    await vi.advanceTimersByTimeAsync(2100);
    expect(typeof token.value).toBe('string');
    // Presenting the rotated-away token again:
    const again = await permanentThenLoggedOut(supabaseRefresher({ url, apiKey }), first);
    expect(again.session.getStatus().lastError).toMatchObject({ code: 'REFRESH_FAILED', reason: 'refresh_token_already_used', kind: 'permanent', status: 400 });
  });

  it('a wrong API key is a permanent failure, reported as HTTP_401', async () => {
    const server = supabase({ url, apiKey });
    mock.use(server.handler);
    const { session } = await permanentThenLoggedOut(supabaseRefresher({ url, apiKey: 'wrong' }), server.state.current);
    expect(session.getStatus().lastError).toMatchObject({ code: 'REFRESH_FAILED', reason: 'HTTP_401', kind: 'permanent' });
  });
});
