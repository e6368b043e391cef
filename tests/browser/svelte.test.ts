/**
 * `authchart/svelte` in real Chromium: Svelte 5 components compiled by the Svelte compiler,
 * against the real rotating strict token server and resource server on 127.0.0.1.
 * End-to-end against real servers: real time, every wait bounded.
 */
import { build, type Plugin } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { compile } from 'svelte/compiler';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTokenServer, startTestServers, type TestServers } from '../../adapters/testing/node.js';
import type { TokenServer } from '../../adapters/testing/index.js';
import { describeWithChromium, launchChromium, type LaunchedBrowser } from '../support/browser.js';

/** Compile `.svelte` files for the browser, as Svelte's bundler plugins do. */
const svelte: Plugin = {
  name: 'svelte',
  setup(builder) {
    builder.onLoad({ filter: /\.svelte$/ }, async ({ path }) => {
      const { js } = compile(await readFile(path, 'utf8'), { filename: path, generate: 'client' });
      return { contents: js.code, loader: 'js' };
    });
  },
};

describeWithChromium('authchart/svelte in Chromium (Svelte 5)', () => {
  let site: Server;
  let siteUrl = '';
  const hits = new Map<string, number>();
  let browser: LaunchedBrowser;
  let tokens: TokenServer;
  let servers: TestServers;

  beforeAll(async () => {
    const built = await build({
      entryPoints: [new URL('./svelte/page.ts', import.meta.url).pathname],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
      plugins: [svelte],
    });
    const bundle = built.outputFiles[0]!.text;
    site = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      if (path === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><title>authchart svelte</title><body><script type="module" src="/page.js"></script></body>');
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    tokens = createTokenServer({ accessTokenTtlSeconds: 60 });
    servers = await startTestServers(tokens);
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await servers?.close();
    await new Promise((resolve) => site?.close(resolve));
  });

  async function until(page: Page, check: () => Promise<boolean>, timeoutMs: number, what: string) {
    const end = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
      await page.waitForTimeout(20);
    }
  }

  /** A page on `/` with a signed-in app whose token the server has already expired. */
  async function dashboardAfterExpiry() {
    const page = await browser.context.newPage();
    await page.goto(`${siteUrl}/`);
    const login = tokens.login();
    tokens.resetStats();
    tokens.expireAccessTokens();
    await page.evaluate((config) => window.app.start(config), {
      tokenEndpoint: servers.tokenEndpoint,
      api: servers.api,
      tokens: { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + 60_000 },
    });
    await until(page, async () => (await page.evaluate(() => window.app.shown())).every((text) => text !== 'loading'), 10_000, 'every widget has loaded');
    return page;
  }

  it('five components loading after expiry: one token call, every one shows its data; the store and `current` both follow the status', async () => {
    const page = await dashboardAfterExpiry();
    try {
      const shown = await page.evaluate(() => window.app.shown());
      const seen = await page.evaluate(() => window.app.seen);
      console.log(
        `[svelte] 5 components after expiry: token calls ${tokens.stats.refreshCalls}, 401s absorbed ${tokens.stats.resourceUnauthorized}, shown ${JSON.stringify(shown)}, status seen by $store ${JSON.stringify(seen.store)}, by .current ${JSON.stringify(seen.rune)}`,
      );
      expect(shown).toEqual([1, 2, 3, 4, 5].map((id) => `/api/svelte/${id}`));
      expect(tokens.stats.refreshCalls).toBe(1);
      expect(tokens.stats.resourceUnauthorized).toBe(5);
      expect(tokens.stats.reuseDetected).toBe(0);
      expect(await page.evaluate(() => window.app.status())).toEqual(['authenticated', 'authenticated']);
      expect(seen.store).toEqual(['authenticated', 'refreshing', 'authenticated']);
      expect(seen.rune).toEqual(['authenticated', 'refreshing', 'authenticated']);
    } finally {
      await page.close();
    }
  });

  it('logout redirects to /login once, and the sign-in page (a session without tokens) does not redirect to itself', async () => {
    const page = await dashboardAfterExpiry();
    try {
      hits.delete('/login');
      await Promise.all([page.waitForURL(`${siteUrl}/login`, { timeout: 10_000 }), page.evaluate(() => window.app.logout())]);
      await until(
        page,
        async () => (await page.evaluate(() => document.getElementById('status')?.textContent)) === 'loggedOut',
        5000,
        'the sign-in page shows its logged-out session',
      );
      // Give a looping redirect time to show itself.
      await page.waitForTimeout(500);
      console.log(`[svelte] logout: /login loaded ${hits.get('/login')} time(s)`);
      expect(hits.get('/login')).toBe(1);
      expect(new URL(page.url()).pathname).toBe('/login');
    } finally {
      await page.close();
    }
  });
});
