/**
 * R11 against a real OpenID provider: oidc-provider with an issuer that has a path
 * (Keycloak and Okta style), behind a same-origin proxy, strict refresh-token rotation
 * (reuse revokes the grant), `openid offline_access` so every refresh answer carries an
 * id_token. Four sessions share one store and one lock, as four tabs share IndexedDB and
 * Web Locks; each sends 10 requests once the access token has expired; the resource
 * server checks every token with the provider (introspection).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLock, memoryStore, type AuthchartError } from '../../adapters/index.js';
import { createAuthFetch, type AuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher, type OAuthRefresherOptions } from '../../adapters/oauth/index.js';
import { startOidcProvider, type OidcFixture } from '../support/oidc-provider.js';
import { startResourceServer, type ResourceServer } from '../support/resource-server.js';

const TABS = 4;
const REQUESTS_PER_TAB = 10;

let idp: OidcFixture;
let api: ResourceServer;

beforeAll(async () => {
  idp = await startOidcProvider();
  api = await startResourceServer(idp);
});

afterAll(async () => {
  await api?.close();
  await idp?.close();
});

/** Wait until the provider itself says the access token is no longer active (bounded). */
async function expired(accessToken: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await idp.introspect(accessToken)).active) {
    if (Date.now() > deadline) throw new Error('the access token was still active after 10 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface HerdResult {
  statuses: number[];
  failures: unknown[];
  warnings: AuthchartError[];
  tabs: AuthFetch[];
  /** The refresh token every tab holds now (they share the store). */
  storedRefreshToken: string | undefined;
  signedInWith: string;
}

/** Sign in, let the access token expire, then 4 tabs × 10 requests. */
async function herdAfterExpiry(refresherOptions: Partial<OAuthRefresherOptions> = {}): Promise<HerdResult> {
  const signedIn = await idp.signIn({ accessTokenTtlSeconds: 1 });
  await expired(signedIn.accessToken);
  idp.resetCounters();
  // Four tabs: one store and one lock between them; each tab builds its own refresher.
  const store = memoryStore({ accessToken: signedIn.accessToken, refreshToken: signedIn.refreshToken });
  const lock = memoryLock();
  const warnings: AuthchartError[] = [];
  const tabs = Array.from({ length: TABS }, () => {
    const tab = createAuthFetch({
      refresh: oauthRefresher({ tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId, ...refresherOptions }),
      store,
      lock,
      allowedOrigins: [api.origin],
    });
    tab.on('warning', (event) => warnings.push(event.error));
    return tab;
  });
  const outcomes = await Promise.allSettled(
    tabs.flatMap((tab, t) => Array.from({ length: REQUESTS_PER_TAB }, (_, i) => tab(`${api.api}/tab-${t}/item-${i}`).then((response) => response.status))),
  );
  const stored = await store.get();
  return {
    statuses: outcomes.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<number>).value),
    failures: outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason),
    warnings,
    tabs,
    storedRefreshToken: stored?.refreshToken,
    signedInWith: signedIn.refreshToken,
  };
}

/** Figures of a run, for the log and for the assertions. */
function figures(result: HerdResult) {
  const refreshCalls = idp.calls.filter((c) => c.grantType === 'refresh_token');
  return {
    tokenCalls: idp.counters.tokenCalls,
    refreshCalls: refreshCalls.length,
    rotated: idp.counters.rotated,
    invalidGrant: idp.counters.invalidGrant,
    reuseDetected: idp.counters.reuseDetected,
    revoked: idp.counters.revoked,
    requestsOk: result.statuses.filter((s) => s === 200).length,
    requests: TABS * REQUESTS_PER_TAB,
    states: result.tabs.map((tab) => tab.getStatus().state),
  };
}

/** The session is alive at the provider: the refresh token every tab holds rotates once more. */
async function stillAlive(result: HerdResult): Promise<void> {
  const before = idp.counters.rotated;
  await result.tabs[0]!.refresh();
  expect(idp.counters.rotated).toBe(before + 1);
  const response = await result.tabs[1]!(`${api.api}/after`);
  expect(response.status).toBe(200);
}

describe('oidc-provider, issuer with a path, behind a same-origin proxy', () => {
  it('the token endpoint is not at the issuer: that is the case under test', () => {
    expect(new URL(idp.tokenEndpoint).origin).not.toBe(idp.issuer);
    expect(idp.issuer).toMatch(/\/realms\/demo$/);
  });

  it('with the README defaults, 4 tabs × 10 requests after expiry: one token call, 40 of 40 succeed, the session lives', async () => {
    const result = await herdAfterExpiry();
    const seen = figures(result);
    console.info('[e2e] defaults:', JSON.stringify(seen));
    try {
      expect(seen).toMatchObject({ tokenCalls: 1, refreshCalls: 1, rotated: 1, invalidGrant: 0, reuseDetected: 0, revoked: 0, requestsOk: 40 });
      expect(result.failures).toEqual([]);
      expect(seen.states).toEqual(['idle', 'idle', 'idle', 'idle']);
      expect(result.storedRefreshToken).not.toBe(result.signedInWith);
      expect(result.warnings).toEqual([]);
      await stillAlive(result);
    } finally {
      await Promise.all(result.tabs.map((tab) => tab.dispose()));
    }
  }, 30_000);

  it('with a wrong issuer given: the rotation is kept, nothing is reused, the session lives, and a warning names `issuer`', async () => {
    const result = await herdAfterExpiry({ issuer: `${idp.issuer}-wrong` });
    const seen = figures(result);
    console.info('[e2e] wrong issuer:', JSON.stringify(seen));
    try {
      expect(seen).toMatchObject({ tokenCalls: 1, refreshCalls: 1, rotated: 1, invalidGrant: 0, reuseDetected: 0, revoked: 0, requestsOk: 40 });
      expect(result.failures).toEqual([]);
      expect(seen.states).toEqual(['idle', 'idle', 'idle', 'idle']);
      // The tab that made the token call says what to fix; the others adopted its tokens.
      expect(result.warnings).toHaveLength(1);
      expect(result.warnings[0]!.code).toBe('INVALID_TOKEN_RESPONSE');
      expect(result.warnings[0]!.message).toMatch(/`issuer`/);
      await stillAlive(result);
    } finally {
      await Promise.all(result.tabs.map((tab) => tab.dispose()));
    }
  }, 30_000);

  it('with the right issuer given, the id_token of every refresh is validated and accepted', async () => {
    const result = await herdAfterExpiry({ issuer: idp.issuer });
    const seen = figures(result);
    try {
      expect(seen).toMatchObject({ tokenCalls: 1, rotated: 1, invalidGrant: 0, requestsOk: 40 });
      expect(result.warnings).toEqual([]);
    } finally {
      await Promise.all(result.tabs.map((tab) => tab.dispose()));
    }
  }, 30_000);
});
