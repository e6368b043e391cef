/**
 * The Next.js example for real: `next build` once (cached by source hash), `next start` on
 * 127.0.0.1 (one instance, or two behind a round-robin balancer sharing one redis-server),
 * driven by headless Chromium. The referee is the strict rotating token server over HTTP
 * (presenting a rotated refresh token revokes the session), with 3-second access tokens:
 * the tests wait for real expiries.
 *
 * For each storage (session id + server store; tokens in a sealed cookie) and each
 * deployment (1 instance in memory; 2 instances on Redis): after the access token expired,
 * the page's Server Components, route handlers and backend-for-frontend calls all run in
 * parallel with the same cookie → exactly one token call, no failed request, the session
 * alive, and the cookie changed at most once (sealed tokens: once; session id: never).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page, Request as PageRequest, Response as PageResponse } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServers, type TestServers } from '../../adapters/testing/node-server.js';
import { createTokenServer, issuedSecrets, type TokenServer } from '../../adapters/testing/token-server.js';
import { startBalancer, type Balancer } from '../support/balancer.js';
import { describeWithChromium, launchChromium, type LaunchedBrowser } from '../support/browser.js';
import { buildNextExample, startNextInstance, type NextInstance } from '../support/next-app.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

const TTL_SECONDS = 3;
const WIDGETS = 4;
const SCREENSHOT =
  process.env.AUTHCHART_UPDATE_SCREENSHOT === '1'
    ? fileURLToPath(new URL('../../examples/next-app/screenshot.png', import.meta.url))
    : join(tmpdir(), 'authchart-next-app.png');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the browser saw during one cycle. */
interface Traffic {
  responses: number;
  failed: string[];
  /**
   * RSC responses of `router.refresh()` that arrived (200) and whose body Next.js' router
   * then cancelled: Chromium reports them as net::ERR_ABORTED. Next.js 16.4 does this on
   * every refresh, with or without authchart (checked on a bare app), so they are counted
   * apart, not as failures.
   */
  rscCancelled: number;
  /** Values of the token/session cookie set by responses, in order. */
  cookieWrites: string[];
  stop(): void;
}

function watch(page: Page, cookieName: string): Traffic {
  const traffic: Traffic = { responses: 0, failed: [], rscCancelled: 0, cookieWrites: [], stop: () => undefined };
  const answered = new WeakSet<object>();
  const onResponse = async (response: PageResponse) => {
    traffic.responses++;
    if (response.status() < 400) answered.add(response.request());
    if (response.status() >= 400) traffic.failed.push(`${response.status()} ${response.url()}`);
    for (const header of await response.headersArray().catch(() => [])) {
      if (header.name.toLowerCase() === 'set-cookie' && header.value.startsWith(`${cookieName}=`))
        traffic.cookieWrites.push(header.value.split(';')[0]!.slice(cookieName.length + 1));
    }
  };
  const onFailed = (request: PageRequest) => {
    const error = request.failure()?.errorText ?? 'failed';
    if (error === 'net::ERR_ABORTED' && answered.has(request) && new URL(request.url()).searchParams.has('_rsc')) traffic.rscCancelled++;
    else traffic.failed.push(`${error} ${request.url()}`);
  };
  page.on('response', onResponse);
  page.on('requestfailed', onFailed);
  traffic.stop = () => {
    page.off('response', onResponse);
    page.off('requestfailed', onFailed);
  };
  return traffic;
}

/** Wait until the 4 Server Components show `ok`, rendered after `after`. */
async function serverWidgetsOk(page: Page, after: number): Promise<void> {
  try {
    await page.waitForFunction(
      ({ after, count }) => {
        const nodes = [...document.querySelectorAll('[data-testid="server-widget"]')];
        return nodes.length === count && nodes.every((n) => n.getAttribute('data-status') === 'ok' && Number(n.getAttribute('data-rendered')) > after);
      },
      { after, count: WIDGETS },
      { timeout: 30_000 },
    );
  } catch (error) {
    const seen = await page
      .$$eval('[data-testid="server-widget"]', (nodes) =>
        nodes.map((n) => `${n.getAttribute('data-status')} ${n.getAttribute('data-rendered')} ${n.textContent}`),
      )
      .catch(() => []);
    throw new Error(`Server Components not all ok after ${after}: ${JSON.stringify(seen)}`, { cause: error });
  }
}

/** Wait until the client widgets finished a round past `round`; returns how many failed. */
async function clientRoundDone(page: Page, round: number): Promise<number> {
  await page.waitForFunction((round) => Number(document.querySelector('[data-testid="client-widgets"]')?.getAttribute('data-round')) > round, round, {
    timeout: 30_000,
  });
  return Number(await page.getAttribute('[data-testid="client-widgets"]', 'data-failed'));
}

const clientRound = async (page: Page) => Number((await page.getAttribute('[data-testid="client-widgets"]', 'data-round')) ?? 0);

describeWithChromium('example app: next-app (Next.js 16, next build + next start) in headless Chromium', () => {
  let redis: RedisServer;
  let tokens: TokenServer;
  let servers: TestServers;
  let browser: LaunchedBrowser;

  // Every configuration runs the parallel "Reload everything"; a full page load and the
  // page outside the proxy run where they test something different (each waits for a
  // real expiry, so the suite keeps to what it needs).
  const configurations = [
    { storage: 'session', instances: 1, pageLoad: true, direct: false },
    { storage: 'session', instances: 2, pageLoad: true, direct: false },
    { storage: 'cookie', instances: 1, pageLoad: false, direct: true },
    { storage: 'cookie', instances: 2, pageLoad: true, direct: true },
  ] as const;
  /**
   * Every configuration's `next start` processes, started (and warmed) one configuration
   * after the other in the background, so later ones start while earlier ones are tested.
   */
  const started = new Map<string, Promise<NextInstance[]>>();

  beforeAll(async () => {
    const checking = Date.now();
    const build = await buildNextExample();
    console.log(
      `[figures] next-app build: ${build.built ? `authchart JS ${(build.packageMs / 1000).toFixed(1)} s + next build ${(build.nextMs / 1000).toFixed(1)} s` : `cached (${Date.now() - checking} ms to check)`}`,
    );
    redis = await startRedisServer();
    tokens = createTokenServer({ accessTokenTtlSeconds: TTL_SECONDS });
    servers = await startTestServers(tokens);
    let previous: Promise<unknown> = Promise.resolve();
    for (const { storage, instances } of configurations) {
      // Rotate sealed cookies 250 ms before the expiry (3-second tokens; the default 10 s,
      // capped at half the lifetime, would rotate again in the middle of a slow cycle).
      const env: Record<string, string> = {
        TOKEN_ENDPOINT: servers.tokenEndpoint,
        API_URL: servers.api,
        AUTHCHART_STORAGE: storage,
        AUTHCHART_LEEWAY_MS: '250',
      };
      if (instances > 1) env.REDIS_URL = redis.url;
      const apps = previous.then(() =>
        Promise.all(
          Array.from({ length: instances }, async () => {
            const app = await startNextInstance(env);
            // Load the page and route modules once, so the first test does not pay for it.
            for (const path of ['/', '/api/widgets/revenue', '/api/bff/widgets/revenue']) await fetch(`${app.url}${path}`).then((r) => r.arrayBuffer());
            return app;
          }),
        ),
      );
      previous = apps.catch(() => undefined);
      started.set(`${storage}/${instances}`, apps);
    }
    browser = await launchChromium();
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    for (const apps of started.values()) await Promise.all((await apps.catch(() => [])).map((app) => app.stop()));
    await servers?.close();
    await redis?.stop();
  });

  for (const { storage, instances, pageLoad, direct } of configurations) {
    describe(`${storage === 'session' ? 'session id + server store' : 'tokens in a sealed cookie'}, ${instances === 1 ? 'one instance (memory)' : 'two instances (Redis)'}`, () => {
      const cookieName = storage === 'session' ? 'authchart.sid' : 'authchart.tokens';
      const label = `${storage}/${instances}`;
      let apps: NextInstance[] = [];
      let balancer: Balancer | undefined;
      let front = '';
      let page: Page;

      const cookieValue = async () => (await browser.context.cookies(front)).find((c) => c.name === cookieName)?.value;
      /** Wait past the access token's expiry (real time), then count token calls from now. */
      const expire = async () => {
        await sleep(TTL_SECONDS * 1000 + 400);
        tokens.resetStats();
      };
      /** The checks every cycle ends with. */
      const settled = async (traffic: Traffic, before: string | undefined, what: string) => {
        traffic.stop();
        const after = await cookieValue();
        const writes = new Set(traffic.cookieWrites);
        console.log(
          `[figures] next ${label} ${what}: responses=${traffic.responses} tokenCalls=${tokens.stats.refreshCalls} failed=${traffic.failed.length} rscCancelledByRouter=${traffic.rscCancelled} ` +
            `cookieChanged=${before !== after} distinctCookieWrites=${writes.size} reuse=${tokens.stats.reuseDetected}` +
            (balancer ? ` perInstance=${balancer.counts.join('/')}` : ''),
        );
        expect(traffic.failed).toEqual([]);
        // One token call per expiry. A cycle normally ends within one token lifetime (one
        // call); on a very busy machine a slow cycle may outlive the new token too, and its
        // next expiry may then take a second call, but never sooner than a lifetime later.
        const calls = tokens.calls;
        expect(calls.length).toBeGreaterThanOrEqual(1);
        expect(calls.every((c) => c.outcome === 'rotated')).toBe(true);
        for (let i = 1; i < calls.length; i++) expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(TTL_SECONDS * 1000 - 500);
        if (storage === 'session') {
          // The cookie holds the session id only: rotation never touches it.
          expect(writes.size).toBe(0);
          expect(after).toBe(before);
        } else {
          // One new sealed cookie per rotation, the same value on every response that carried it.
          expect(writes.size).toBe(calls.length);
          expect(after).toBe([...writes].at(-1));
          expect(after).not.toBe(before);
        }
        for (const secret of issuedSecrets()) expect(after).not.toContain(secret);
      };

      beforeAll(async () => {
        apps = await started.get(label)!;
        if (instances > 1) {
          balancer = await startBalancer(apps.map((app) => app.url));
          front = balancer.url;
        } else {
          front = apps[0]!.url;
        }
        await browser.context.clearCookies();
        page = await browser.context.newPage();
        page.setDefaultTimeout(30_000);
      }, 120_000);

      afterAll(async () => {
        await page?.close();
        await balancer?.close();
      });

      test('signs in (server action): an httpOnly cookie, every widget loads', async () => {
        await page.goto(`${front}/`);
        expect(await page.textContent('[data-testid="mode"]')).toContain(instances > 1 ? 'Redis' : 'memory');
        const started = Date.now();
        await page.getByRole('button', { name: 'Sign in as the demo user' }).click();
        await serverWidgetsOk(page, started - 1);
        expect(await clientRoundDone(page, 0)).toBe(0);
        const cookie = (await browser.context.cookies(front)).find((c) => c.name === cookieName);
        expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax' });
        expect(await page.evaluate(() => document.cookie)).not.toContain('authchart');
      }, 90_000);

      test('the backend-for-frontend route refuses cross-site requests (403) and forwards same-origin ones', async () => {
        const cookie = `${cookieName}=${await cookieValue()}`;
        const call = (headers: Record<string, string>) => fetch(`${front}/api/bff/widgets/revenue`, { headers: { cookie, ...headers } });
        const crossSite = await call({ 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' });
        expect(crossSite.status).toBe(403);
        expect(await crossSite.json()).toEqual({ error: 'csrf_rejected' });
        const foreignOrigin = await call({ origin: 'http://evil.example' });
        expect(foreignOrigin.status).toBe(403);
        const sameOrigin = await call({ 'sec-fetch-site': 'same-origin' });
        expect(sameOrigin.status).toBe(200);
        expect(await sameOrigin.json()).toMatchObject({ ok: true, path: '/api/widgets/revenue' });
      });

      test('after expiry, "Reload everything": Server Components, route handlers and BFF calls in parallel → one token call', async () => {
        const round = await clientRound(page);
        await expire();
        const before = await cookieValue();
        const traffic = watch(page, cookieName);
        const started = Date.now();
        await page.getByTestId('reload-all').click();
        expect(await clientRoundDone(page, round)).toBe(0);
        await serverWidgetsOk(page, started);
        await settled(traffic, before, 'reload-all');
      }, 90_000);

      if (pageLoad)
        test('after expiry, a full page load (document render + client fetches) → one token call; the session stays alive', async () => {
          await expire();
          const before = await cookieValue();
          const traffic = watch(page, cookieName);
          const started = Date.now();
          await page.reload();
          await serverWidgetsOk(page, started);
          expect(await clientRoundDone(page, 0)).toBe(0);
          await settled(traffic, before, 'page-load');
          // Alive: the next page load works, and no refresh token was ever presented twice.
          const again = Date.now();
          await page.reload();
          await serverWidgetsOk(page, again);
          expect(tokens.stats.reuseDetected).toBe(0);
          expect(tokens.calls.every((c) => c.outcome === 'rotated')).toBe(true);
          if (storage === 'session' && instances === 2) {
            expect(await clientRoundDone(page, 0)).toBe(0);
            await page.screenshot({ path: SCREENSHOT, fullPage: true });
          }
        }, 90_000);

      if (direct)
        test('after expiry, a page outside the proxy: its Server Components refresh; the next request that can write cookies catches up with no second token call', async () => {
          await expire();
          const before = await cookieValue();
          const traffic = watch(page, cookieName);
          const started = Date.now();
          await page.goto(`${front}/direct`);
          await serverWidgetsOk(page, started);
          expect(tokens.stats.refreshCalls).toBeGreaterThanOrEqual(1);
          if (storage === 'cookie') {
            // A Server Component cannot set cookies: the browser still holds the old one.
            expect(await cookieValue()).toBe(before);
            expect(traffic.cookieWrites).toEqual([]);
          }
          // The next request (a route handler, through the proxy) brings the browser up to date.
          const status = await page.evaluate(async () => (await fetch('/api/widgets/revenue', { cache: 'no-store' })).status);
          expect(status).toBe(200);
          await settled(traffic, before, 'direct+catch-up');
        }, 90_000);
    });
  }
});
