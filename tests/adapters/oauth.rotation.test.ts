/**
 * R11: a 2xx token answer is a rotation that happened. Whatever authchart refuses in it,
 * it never presents the same refresh token again, and validating an id_token never breaks
 * refreshes with default options.
 */
import { describe, expect, it, vi } from 'vitest';
import { createSession, ErrorCode, isAuthchartError, memoryStore, type AuthchartError } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, testUrls, tokenServerHandlers, type TokenServerOptions } from '../../adapters/testing/index.js';
import { mock, useMockNetwork } from '../support/harness.js';

useMockNetwork();

/** Issuers of real providers, none of them the token endpoint's origin. */
const issuers = {
  'an issuer with a path (Keycloak, Okta)': 'https://auth.authchart.test/realms/demo',
  'a trailing slash (Auth0)': 'https://auth.authchart.test/',
  'another host (Google)': 'https://accounts.authchart.test',
};

/** Run `promise` while fake time passes; its outcome: 'ok' or the error. */
async function settle(promise: Promise<unknown>, ms = 10_000): Promise<unknown> {
  const outcome = promise.then(
    () => 'ok',
    (error: unknown) => error,
  );
  await vi.advanceTimersByTimeAsync(ms);
  return outcome;
}

function signedIn(serverOptions: TokenServerOptions) {
  const server = createTokenServer({ accessTokenTtlSeconds: 60, clientId: 'spa', ...serverOptions });
  mock.use(...tokenServerHandlers(server));
  const login = server.login();
  return { server, tokens: { accessToken: login.access_token, refreshToken: login.refresh_token } };
}

describe('id_token in refresh answers (R11)', () => {
  it.each(Object.entries(issuers))('with default options, %s: three refreshes rotate, nothing is reused', async (_, issuer) => {
    const { server, tokens } = signedIn({ idTokenIssuer: issuer });
    const session = createSession({ refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'spa' }), tokens });
    for (let round = 0; round < 3; round++) expect(await settle(session.refresh())).toBe('ok');
    expect(server.calls.map((call) => call.outcome)).toEqual(['rotated', 'rotated', 'rotated']);
    expect(server.stats.reuseDetected).toBe(0);
    expect(session.getStatus()).toMatchObject({ state: 'idle', lastError: null });
    await session.dispose();
  });

  it('with issuer set, an id_token of that issuer is validated and accepted', async () => {
    const issuer = issuers['an issuer with a path (Keycloak, Okta)'];
    const { server, tokens } = signedIn({ idTokenIssuer: issuer });
    const session = createSession({ refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'spa', issuer }), tokens });
    expect(await settle(session.refresh())).toBe('ok');
    expect(server.calls.map((call) => call.outcome)).toEqual(['rotated']);
    await session.dispose();
  });

  it('with a wrong issuer set, the rotated tokens are kept, the next refresh presents the new refresh token, and the warning names the option', async () => {
    const { server, tokens } = signedIn({ idTokenIssuer: 'https://auth.authchart.test/realms/demo' });
    const session = createSession({
      refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'spa', issuer: 'https://wrong.authchart.test' }),
      tokens,
    });
    const warnings: AuthchartError[] = [];
    session.on('warning', (event) => warnings.push(event.error));
    expect(await settle(session.refresh())).toBe('ok');
    expect(await settle(session.refresh())).toBe('ok');
    expect(server.calls.map((call) => call.outcome)).toEqual(['rotated', 'rotated']);
    expect(server.calls[1]!.refreshToken).not.toBe(server.calls[0]!.refreshToken);
    expect(server.stats.reuseDetected).toBe(0);
    expect(session.getStatus().state).toBe('idle');
    expect(warnings).toHaveLength(2);
    expect(isAuthchartError(warnings[0], ErrorCode.INVALID_TOKEN_RESPONSE)).toBe(true);
    expect(warnings[0]!.message).toMatch(/issuer/);
    // The token the session holds now is the last one the server issued: it works.
    const current = await session.getAccessToken();
    expect(server.authenticate(`Bearer ${current}`)).toMatchObject({ ok: true });
    await session.dispose();
  });
});

describe('a refused 2xx answer keeps what the server rotated (R11)', () => {
  it.each(['noAccessToken', 'dpopTokenType', 'negativeExpiresIn'] as const)(
    '%s: the retry presents the rotated refresh token, never the old one',
    async (problem) => {
      const { server, tokens } = signedIn({});
      const store = memoryStore(tokens);
      const session = createSession({ refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'spa' }), store, maxWaitMs: 60_000 });
      server.fault({ type: 'rotatedButMalformed', problem });
      expect(await settle(session.refresh())).toBe('ok');
      const presented = server.calls.map((call) => call.refreshToken);
      expect(new Set(presented).size).toBe(presented.length);
      expect(server.stats.reuseDetected).toBe(0);
      expect(server.isAlive((await store.get())!.refreshToken!)).toBe(true);
      await session.dispose();
    },
  );

  it('what was refused is never counted toward logout: three refused answers in a row keep the session', async () => {
    const { server, tokens } = signedIn({});
    const store = memoryStore(tokens);
    const session = createSession({ refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'spa' }), store, maxWaitMs: 60_000 });
    server.fault(...Array.from({ length: 3 }, () => ({ type: 'rotatedButMalformed' as const, problem: 'noAccessToken' as const })));
    expect(await settle(session.refresh())).toBe('ok');
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.isAlive((await store.get())!.refreshToken!)).toBe(true);
    expect(session.getStatus().state).toBe('idle');
    await session.dispose();
  });
});
