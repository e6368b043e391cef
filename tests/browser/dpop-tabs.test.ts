/**
 * DPoP across tabs in a real browser: headless Chromium, 4 pages of one origin, each with
 * `createAuthFetch`, the cross-tab store and lock and the origin's one DPoP key pair in
 * IndexedDB, against oidc-provider (DPoP on, nonces required, CORS for the page) and a
 * resource server that checks every proof and requires a nonce of its own.
 *
 * After the access token expires, 4 tabs × 10 requests: the refresh token is presented
 * once, every request succeeds, and every token and proof is bound to the IndexedDB key.
 * End to end against real servers: real time, every wait bounded.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { describeWithChromium, launchChromium, type LaunchedBrowser } from '../support/browser.js';
import { startOidcProvider, type OidcFixture } from '../support/oidc-provider.js';
import { startResourceServer, type ResourceServer } from '../support/resource-server.js';
import { serveBundle, type Site } from './site.js';

const TABS = 4;
const REQUESTS_PER_TAB = 10;

describeWithChromium('DPoP across 4 tabs (Chromium, IndexedDB key, Web Locks) against oidc-provider with nonces required', () => {
  let site: Site;
  let idp: OidcFixture;
  let api: ResourceServer;
  let browser: LaunchedBrowser;
  const pages: Page[] = [];

  beforeAll(async () => {
    site = await serveBundle(new URL('./dpop-tab-page.ts', import.meta.url));
    idp = await startOidcProvider({ dpop: { requireNonce: true }, corsOrigins: [new URL(site.url).origin] });
    api = await startResourceServer(idp, { dpop: true, requireNonce: true, cors: true });
    browser = await launchChromium();
    for (let i = 0; i < TABS; i++) {
      const page = await browser.context.newPage();
      await page.goto(site.url);
      await page.waitForFunction(() => typeof window.dpopTab === 'object');
      pages.push(page);
    }
    const kinds = await Promise.all(
      pages.map((page) =>
        page.evaluate((config) => window.dpopTab.init(config), { tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId, apiOrigin: api.origin }),
      ),
    );
    expect(kinds).toEqual(Array(TABS).fill('web-locks'));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await idp?.close();
    await site?.close();
  });

  async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
  }

  it('4 tabs × 10 requests after expiry: the refresh token presented once, 40 of 40 succeed, all bound to the one IndexedDB key', async () => {
    // Sign in in the first tab: a new key (rotated), the code exchanged with it.
    const code = await idp.authorize({ accessTokenTtlSeconds: 2 });
    const signedIn = await pages[0]!.evaluate((c) => window.dpopTab.signIn(c), code);
    expect(signedIn.tokenType).toBe('dpop');
    await waitUntil(
      async () => (await Promise.all(pages.map((p) => p.evaluate(() => window.dpopTab.status().status)))).every((s) => s === 'authenticated'),
      5_000,
      'every tab follows the sign-in',
    );
    const jkts = await Promise.all(pages.map((p) => p.evaluate(() => window.dpopTab.jkt())));
    expect(new Set(jkts).size).toBe(1);
    const [jkt] = jkts;
    expect((await idp.introspect(signedIn.accessToken)).cnf?.jkt).toBe(jkt);
    expect(await pages[2]!.evaluate(() => window.dpopTab.privateKeyExtractable())).toBe(false);

    // The provider itself says when the access token has expired.
    await waitUntil(async () => !(await idp.introspect(signedIn.accessToken)).active, 15_000, 'the access token expires');
    idp.resetCounters();
    api.resetStats();

    const started = Date.now();
    const outcomes = (
      await Promise.all(pages.map((p) => p.evaluate(([url, n]) => window.dpopTab.burst(url as string, n as number), [api.api, REQUESTS_PER_TAB] as const)))
    ).flat();
    const ms = Date.now() - started;
    const refreshTokenCalls = idp.calls.filter((c) => c.grantType === 'refresh_token');
    const presented = refreshTokenCalls.filter((c) => c.refreshToken !== 'authchart-dpop-nonce-probe');
    const figures = {
      tokenCalls: idp.counters.tokenCalls,
      refreshTokenPresented: presented.length,
      nonceProbes: refreshTokenCalls.length - presented.length,
      rotated: idp.counters.rotated,
      reuseDetected: idp.counters.reuseDetected,
      invalidGrant: idp.counters.invalidGrant,
      requests: outcomes.length,
      ok: outcomes.filter((o) => o === 200).length,
      resourceCalls: api.stats.requests,
      nonceRetries: api.stats.nonceChallenges,
      ms,
    };
    console.info('[browser] DPoP 4 tabs × 10 requests:', JSON.stringify(figures));
    expect(outcomes).toEqual(Array(TABS * REQUESTS_PER_TAB).fill(200));
    expect(figures).toMatchObject({ refreshTokenPresented: 1, rotated: 1, reuseDetected: 0, invalidGrant: 0 });
    // One call to learn the token endpoint's nonce (no refresh token in it), one refresh.
    expect(figures.tokenCalls).toBe(2);
    expect(figures.nonceProbes).toBe(1);
    // Every accepted request: its own proof, signed with the IndexedDB key, with the server's nonce.
    expect(api.stats.accepted).toHaveLength(TABS * REQUESTS_PER_TAB);
    expect(new Set(api.stats.accepted.map((p) => p.jkt))).toEqual(new Set([jkt]));
    expect(new Set(api.stats.accepted.map((p) => p.jti)).size).toBe(TABS * REQUESTS_PER_TAB);
    expect(new Set(api.stats.accepted.map((p) => p.nonce))).toEqual(new Set([api.nonce]));
    // Every tab holds the one refreshed token, bound to the same key.
    const tokens = await Promise.all(pages.map((p) => p.evaluate(() => window.dpopTab.accessToken())));
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(signedIn.accessToken);
    expect((await idp.introspect(tokens[0]!)).cnf?.jkt).toBe(jkt);
    const states = await Promise.all(pages.map((p) => p.evaluate(() => window.dpopTab.status().state)));
    expect(states).toEqual(Array(TABS).fill('idle'));
  }, 60_000);
});
