/**
 * One refresh for all tabs, in a real browser: headless Chromium, one context, N pages of
 * one origin (127.0.0.1), against the real rotating token server and resource server.
 * End-to-end against real servers: real time, every wait bounded.
 */
import { build } from 'esbuild';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTokenServer, startTestServers, type TestServers } from '../../adapters/testing/node.js';
import type { TokenServer } from '../../adapters/testing/index.js';
import { describeWithChromium, launchChromium, type LaunchedBrowser } from '../support/browser.js';

describeWithChromium('one refresh for all tabs (Chromium, Web Locks + IndexedDB + BroadcastChannel)', () => {
  let bundle = '';
  let site: Server;
  let siteUrl = '';
  let browser: LaunchedBrowser;

  beforeAll(async () => {
    const built = await build({
      entryPoints: [new URL('./cross-tab-page.ts', import.meta.url).pathname],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    bundle = built.outputFiles[0]!.text;
    site = createServer((req, res) => {
      if (req.url === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>authchart tab</title><script src="/page.js"></script>');
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/`;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => site?.close(resolve));
  });

  interface World {
    server: TokenServer;
    servers: TestServers;
    pages: Page[];
    close(): Promise<void>;
  }

  /** A fresh token server and `count` tabs, the first one logged in; the others follow it. */
  async function world(
    count: number,
    config: Record<string, unknown> = {},
    options: { ttl?: number; reuseGraceMs?: number; noWebLocks?: boolean } = {},
  ): Promise<World> {
    const server = createTokenServer({ accessTokenTtlSeconds: options.ttl ?? 60, reuseGraceMs: options.reuseGraceMs });
    const servers = await startTestServers(server);
    // A fresh origin storage per world: the site is the same, so clear IndexedDB first.
    const pages: Page[] = [];
    for (let i = 0; i < count; i++) {
      const page = await browser.context.newPage();
      if (options.noWebLocks) await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined }));
      await page.goto(siteUrl);
      pages.push(page);
    }
    await pages[0]!.evaluate(
      () =>
        new Promise<void>((resolve) => {
          const request = indexedDB.deleteDatabase('authchart-test');
          request.onsuccess = request.onerror = request.onblocked = () => resolve();
        }),
    );
    const kinds = await Promise.all(
      pages.map((p) => p.evaluate((c) => window.tab.init(c as never), { tokenEndpoint: servers.tokenEndpoint, api: servers.api, ...config })),
    );
    expect(new Set(kinds)).toEqual(new Set([options.noWebLocks ? 'lease' : 'web-locks']));
    await pages[0]!.evaluate(([endpoint]) => window.tab.login('ada', endpoint!), [servers.tokenEndpoint]);
    await waitUntil(async () => (await statuses(pages)).every((s) => s.status === 'authenticated'), 3000, 'every tab follows the login');
    server.resetStats();
    return {
      server,
      servers,
      pages,
      async close() {
        await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
        await servers.close();
      },
    };
  }

  const statuses = (pages: Page[]) => Promise.all(pages.map((p) => p.evaluate(() => window.tab.status())));

  async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
  }

  async function herd(w: World, perTab: number) {
    const started = Date.now();
    const results = await Promise.all(
      w.pages.map((p) => p.evaluate(([api, n]) => window.tab.burst(api as string, n as number), [w.servers.api, perTab] as const)),
    );
    return { results: results.flat(), ms: Date.now() - started };
  }

  /** One more refresh from a tab works: the session is alive on the server. */
  async function sessionAlive(w: World, page = w.pages[0]!): Promise<boolean> {
    const before = w.server.calls.length;
    const outcome = await page.evaluate(() => window.tab.refresh());
    return outcome === 'ok' && w.server.calls.slice(before).some((c) => c.outcome === 'rotated');
  }

  it.each([
    [4, 10],
    [4, 25],
    [8, 10],
    [8, 25],
  ])('%i tabs × %i concurrent requests after expiry: one token call, every request succeeds, the session lives', async (tabs, perTab) => {
    const w = await world(tabs);
    try {
      w.server.expireAccessTokens();
      const { results, ms } = await herd(w, perTab);
      const ok = results.filter((r) => r === 200).length;
      console.log(`[cross-tab] ${tabs} tabs × ${perTab}: token calls ${w.server.stats.refreshCalls}, ${ok}/${results.length} succeeded, ${ms} ms`);
      expect(w.server.stats.refreshCalls).toBe(1);
      expect(w.server.stats.reuseDetected).toBe(0);
      expect(ok).toBe(tabs * perTab);
      expect(await sessionAlive(w)).toBe(true);
    } finally {
      await w.close();
    }
  });

  // A store that can be stale inside the lock (localStorage) shows up here as a second
  // token call or a reuse in about one round in 10-40 (see the probe below).
  it('hammering the lock handoff: 40 expiries in a row, each one token call across 4 tabs, never a reused token', { timeout: 90_000 }, async () => {
    const w = await world(4);
    try {
      const perRound: number[] = [];
      const started = Date.now();
      for (let round = 0; round < 40; round++) {
        const before = w.server.stats.refreshCalls;
        w.server.expireAccessTokens();
        const { results } = await herd(w, 5);
        expect(results.every((r) => r === 200)).toBe(true);
        perRound.push(w.server.stats.refreshCalls - before);
      }
      console.log(
        `[cross-tab] hammer: token calls per expiry ${JSON.stringify(perRound)}, reuse detected ${w.server.stats.reuseDetected}, ${Date.now() - started} ms`,
      );
      expect(perRound).toEqual(Array(40).fill(1));
      expect(w.server.stats.reuseDetected).toBe(0);
    } finally {
      await w.close();
    }
  });

  // Opt-in (AUTHCHART_STALE_STORE_PROBE=1, about 20 s): evidence that the hammer above would
  // catch a store that is stale inside the lock. Over localStorage a bad handoff shows in a
  // few percent of rounds, too rarely to assert in every run.
  it.runIf(process.env.AUTHCHART_STALE_STORE_PROBE === '1')('probe: over localStorage the hammer sees bad handoffs', async () => {
    const w = await world(4, { useLocalStorage: true });
    try {
      const perRound: number[] = [];
      for (let round = 0; round < 100 && w.server.stats.reuseDetected === 0; round++) {
        const before = w.server.stats.refreshCalls;
        w.server.expireAccessTokens();
        await herd(w, 5);
        perRound.push(w.server.stats.refreshCalls - before);
      }
      console.log(
        `[cross-tab] hammer over localStorage: ${perRound.length} rounds, token calls per expiry ${JSON.stringify(perRound)}, reuse detected ${w.server.stats.reuseDetected}`,
      );
      expect(perRound.some((calls) => calls !== 1) || w.server.stats.reuseDetected > 0).toBe(true);
    } finally {
      await w.close();
    }
  });

  it('steady polling in 4 tabs across 4 token lifetimes: one token call per lifetime in total, no 401 seen by the app', async () => {
    // 2 s tokens refreshed 200 ms before expiry: one refresh every 1.8 s for all tabs together
    // (the floor between refreshes, 5 s by default, is lowered to fit tokens this short).
    const w = await world(4, { leewayMs: 200, minRefreshIntervalMs: 500 }, { ttl: 2 });
    try {
      const started = Date.now();
      const polls = await Promise.all(w.pages.map((p) => p.evaluate(([api]) => window.tab.poll(api as string, 150, 7500), [w.servers.api] as const)));
      const lifetimes = (Date.now() - started) / 1800;
      const all = polls.flat();
      const at = w.server.calls.map((c) => c.at);
      const gaps = at.slice(1).map((t, i) => t - at[i]!);
      console.log(
        `[cross-tab] steady: ${all.length} polls in 4 tabs over ${lifetimes.toFixed(1)} refresh periods, token calls ${w.server.stats.refreshCalls} (gaps ${JSON.stringify(gaps)} ms), app-visible 401s ${all.filter((s) => s !== 200).length}`,
      );
      expect(all.every((s) => s === 200)).toBe(true);
      expect(w.server.stats.resourceUnauthorized).toBe(0);
      // One call per period for the 4 tabs together: never two in one period.
      expect(w.server.stats.refreshCalls).toBeGreaterThanOrEqual(Math.floor(lifetimes) - 1);
      expect(w.server.stats.refreshCalls).toBeLessThanOrEqual(Math.ceil(lifetimes));
      expect(gaps.every((gap) => gap > 1200)).toBe(true);
      expect(w.server.stats.reuseDetected).toBe(0);
    } finally {
      await w.close();
    }
  });

  it('the tab holding the lock is closed mid-refresh: another tab completes it, nothing hangs, the session lives', async () => {
    const w = await world(4, { preSendDelayMs: 1500 });
    try {
      w.server.expireAccessTokens();
      await Promise.all(w.pages.map((p) => p.evaluate(([api]) => window.tab.queueMany(api as string, 5), [w.servers.api] as const)));
      await waitUntil(
        async () => (await Promise.all(w.pages.map((p) => p.evaluate(() => window.tab.holdsLock())))).some(Boolean),
        3000,
        'a tab holds the lock',
      );
      const holders = await Promise.all(w.pages.map((p) => p.evaluate(() => window.tab.holdsLock())));
      const holder = holders.indexOf(true);
      await w.pages[holder]!.close();
      const survivors = w.pages.filter((_, i) => i !== holder);
      const started = Date.now();
      await waitUntil(
        async () => (await Promise.all(survivors.map((p) => p.evaluate(() => window.tab.outcomes())))).flat().every((o) => o !== null && o !== undefined),
        10_000,
        'every queued request settles',
      );
      const outcomes = (await Promise.all(survivors.map((p) => p.evaluate(() => window.tab.outcomes())))).flat();
      console.log(
        `[cross-tab] holder closed: ${outcomes.filter((o) => o === 200).length}/${outcomes.length} queued requests in the other tabs succeeded ${Date.now() - started} ms later; token calls ${w.server.stats.refreshCalls}`,
      );
      expect(outcomes).toEqual(Array(15).fill(200));
      expect(w.server.stats.refreshCalls).toBe(1);
      w.pages = survivors;
      expect(await sessionAlive(w, survivors[0])).toBe(true);
    } finally {
      await w.close();
    }
  });

  it('logout in one tab: every tab is logged out within a second and its queued requests get SESSION_EXPIRED', async () => {
    const w = await world(4);
    try {
      w.server.fault({ type: 'delay', ms: 30_000 });
      w.server.expireAccessTokens();
      await Promise.all(w.pages.map((p) => p.evaluate(([api]) => window.tab.queueMany(api as string, 3), [w.servers.api] as const)));
      await waitUntil(async () => (await statuses(w.pages)).every((s) => s.queued === 3), 3000, 'every tab has 3 queued');
      const started = Date.now();
      await w.pages[2]!.evaluate(() => window.tab.logout());
      await waitUntil(async () => (await statuses(w.pages)).every((s) => s.state === 'loggedOut'), 1000, 'every tab is logged out');
      const elapsed = Date.now() - started;
      await waitUntil(
        async () => (await Promise.all(w.pages.map((p) => p.evaluate(() => window.tab.outcomes())))).flat().every((o) => o !== undefined),
        1000,
        'queued requests settle',
      );
      const outcomes = (await Promise.all(w.pages.map((p) => p.evaluate(() => window.tab.outcomes())))).flat();
      console.log(`[cross-tab] logout reached all 4 tabs in ${elapsed} ms; queued: ${JSON.stringify([...new Set(outcomes)])}`);
      expect(outcomes).toEqual(Array(12).fill('SESSION_EXPIRED'));
    } finally {
      await w.close();
    }
  });

  it('without Web Locks, the IndexedDB lease keeps it to one token call', async () => {
    const w = await world(4, {}, { noWebLocks: true });
    try {
      w.server.expireAccessTokens();
      const { results } = await herd(w, 10);
      console.log(
        `[cross-tab] lease fallback, 4 tabs × 10: token calls ${w.server.stats.refreshCalls}, ${results.filter((r) => r === 200).length}/40 succeeded`,
      );
      expect(results).toEqual(Array(40).fill(200));
      expect(w.server.stats.refreshCalls).toBe(1);
    } finally {
      await w.close();
    }
  });
});
