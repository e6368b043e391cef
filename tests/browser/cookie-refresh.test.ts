/**
 * A refresh token held in an httpOnly cookie, in real Chromium: 4 tabs of one origin share
 * the cross-tab store and lock, refresh with `cookieRefresher` (`refreshTokenIn: 'cookie'`)
 * against a real server on 127.0.0.1 that rotates the cookie on every refresh and revokes
 * the family when a rotated cookie comes back (the strict rotating token server referees).
 * End-to-end against real servers: real time, every wait bounded.
 */
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTokenServer, type TokenServer } from '../../adapters/testing/index.js';
import { describeWithChromium, launchChromium, type LaunchedBrowser } from '../support/browser.js';
import { startCookieServer, type CookieServer } from '../support/cookie-server.js';

describeWithChromium("refresh token in an httpOnly cookie, 4 tabs (Chromium, refreshTokenIn: 'cookie')", () => {
  let bundle = '';
  let browser: LaunchedBrowser;

  beforeAll(async () => {
    const built = await build({
      entryPoints: [new URL('./cookie-page.ts', import.meta.url).pathname],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    bundle = built.outputFiles[0]!.text;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  interface World {
    tokens: TokenServer;
    server: CookieServer;
    pages: Page[];
    close(): Promise<void>;
  }

  /** A fresh server (a new origin, so a fresh cookie jar and IndexedDB) and 4 tabs, the first one signed in. */
  async function world(options: { crossTab: boolean }): Promise<World> {
    const tokens = createTokenServer({ accessTokenTtlSeconds: 60 });
    const server = await startCookieServer(tokens, {
      page: '<!doctype html><title>authchart cookie tab</title><script src="/page.js"></script>',
      script: () => bundle,
    });
    const pages: Page[] = [];
    for (let i = 0; i < 4; i++) {
      const page = await browser.context.newPage();
      await page.goto(`${server.origin}/`);
      pages.push(page);
    }
    // Short backoff: the control's failing refreshes end the session in well under a second.
    const kinds = await Promise.all(pages.map((page) => page.evaluate((o) => window.cookieTab.init(o), { ...options, backoffBaseMs: 20 })));
    expect(new Set(kinds)).toEqual(new Set([options.crossTab ? 'web-locks' : 'none']));
    await pages[0]!.evaluate(() => window.cookieTab.login());
    if (options.crossTab) {
      await until(
        async () => (await Promise.all(pages.map((p) => p.evaluate(() => window.cookieTab.status().status)))).every((s) => s === 'authenticated'),
        3000,
        'every tab follows the login',
      );
    } else {
      const accessToken = await pages[0]!.evaluate(() => window.cookieTab.accessToken());
      await Promise.all(pages.slice(1).map((p) => p.evaluate((token) => window.cookieTab.adopt(token), accessToken)));
    }
    tokens.resetStats();
    return {
      tokens,
      server,
      pages,
      async close() {
        await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
        await server.close();
      },
    };
  }

  async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  const herd = async (w: World, perTab: number) => (await Promise.all(w.pages.map((p) => p.evaluate((n) => window.cookieTab.burst(n), perTab)))).flat();

  it('4 tabs × 10 requests after each of 3 expiries: one token call per expiry, every request succeeds, the session lives, the page never sees the refresh token', async () => {
    const w = await world({ crossTab: true });
    try {
      const perExpiry: number[] = [];
      const failures: (number | string)[] = [];
      for (let round = 0; round < 3; round++) {
        const before = w.tokens.stats.refreshCalls;
        w.tokens.expireAccessTokens();
        const results = await herd(w, 10);
        failures.push(...results.filter((r) => r !== 200));
        perExpiry.push(w.tokens.stats.refreshCalls - before);
      }
      const alive = await w.pages[2]!.evaluate(() => window.cookieTab.refresh());
      const cookies = await Promise.all(w.pages.map((p) => p.evaluate(() => window.cookieTab.cookies())));
      console.log(
        `[cookie] 4 tabs × 10 requests × 3 expiries: token calls per expiry ${JSON.stringify(perExpiry)}, ${120 - failures.length}/120 succeeded, ` +
          `reuse detected ${w.tokens.stats.reuseDetected}, one more refresh: ${alive}`,
      );
      expect(perExpiry).toEqual([1, 1, 1]);
      expect(failures).toEqual([]);
      expect(w.tokens.stats.reuseDetected).toBe(0);
      expect(w.server.stats.withoutCookie).toBe(0);
      expect(alive).toBe('ok');
      expect(w.tokens.calls.at(-1)?.outcome).toBe('rotated');
      expect(cookies).toEqual(['', '', '', '']);
    } finally {
      await w.close();
    }
  });

  it('the control: without the cross-tab lock and store, the same herd makes several token calls (each tab presents the one cookie)', async () => {
    const w = await world({ crossTab: false });
    try {
      w.tokens.expireAccessTokens();
      const results = await herd(w, 10);
      console.log(
        `[cookie] control without the cross-tab lock, 4 tabs × 10: token calls ${w.tokens.stats.refreshCalls}, reuse detected ${w.tokens.stats.reuseDetected}, ` +
          `${results.filter((r) => r === 200).length}/40 succeeded`,
      );
      expect(w.tokens.stats.refreshCalls).toBeGreaterThan(1);
    } finally {
      await w.close();
    }
  });
});
