/**
 * The DPoP key store in a real browser (headless Chromium, one context, 4 pages of one
 * origin): one non-extractable key pair in IndexedDB for every tab, created once even when
 * all tabs ask at the same moment, kept across reloads, rotated and forgotten for all.
 */
import { build } from 'esbuild';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithChromium, launchChromium, type LaunchedBrowser } from '../support/browser.js';

describeWithChromium('indexedDbDPoPKeys in Chromium: one key pair for all the tabs of an origin', () => {
  let site: Server;
  let siteUrl = '';
  let browser: LaunchedBrowser;
  let pages: Page[] = [];

  beforeAll(async () => {
    const built = await build({
      entryPoints: [new URL('./dpop-keys-page.ts', import.meta.url).pathname],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    const bundle = built.outputFiles[0]!.text;
    site = createServer((req, res) => {
      if (req.url === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>authchart dpop</title><script src="/page.js"></script>');
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/`;
    browser = await launchChromium();
    pages = [];
    for (let i = 0; i < 4; i++) {
      const page = await browser.context.newPage();
      await page.goto(siteUrl);
      await page.waitForFunction(() => typeof window.dpopKeys === 'object');
      pages.push(page);
    }
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => site?.close(resolve));
  });

  it('four tabs asking at once get one key pair; its private key cannot be exported; a signature of one tab verifies in another', async () => {
    await pages[0]!.evaluate(() => window.dpopKeys.clear());
    const all = await Promise.all(pages.map((page, i) => page.evaluate((data) => window.dpopKeys.getOrCreate(data), `tab-${i}`)));
    expect(new Set(all.map((f) => f.jkt)).size).toBe(1);
    // Several tabs found the store empty and made a candidate (generation takes 1 s here): the
    // race did happen, and one candidate won. (All four, unless a tab was slowed down by 1 s.)
    const generated = await Promise.all(pages.map((page) => page.evaluate(() => window.dpopKeys.generated())));
    expect(generated.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2);
    for (const facts of all) expect(facts).toMatchObject({ privateExtractable: false, privateExported: false });
    expect(await pages[3]!.evaluate(({ signature }) => window.dpopKeys.verify(signature, 'tab-0'), all[0]!)).toBe(true);
  });

  it('the key survives a reload; rotate() in one tab is what every tab signs with next; clear() forgets it', async () => {
    const before = await pages[1]!.evaluate(() => window.dpopKeys.getOrCreate('x'));
    await pages[1]!.reload();
    await pages[1]!.waitForFunction(() => typeof window.dpopKeys === 'object');
    expect((await pages[1]!.evaluate(() => window.dpopKeys.getOrCreate('x'))).jkt).toBe(before.jkt);
    const rotated = await pages[0]!.evaluate(() => window.dpopKeys.rotate('x'));
    expect(rotated.jkt).not.toBe(before.jkt);
    const seen = await Promise.all(pages.map((page) => page.evaluate(() => window.dpopKeys.getOrCreate('x'))));
    expect(new Set(seen.map((f) => f.jkt))).toEqual(new Set([rotated.jkt]));
    await pages[2]!.evaluate(() => window.dpopKeys.clear());
    const fresh = await pages[3]!.evaluate(() => window.dpopKeys.getOrCreate('x'));
    expect([before.jkt, rotated.jkt]).not.toContain(fresh.jkt);
  });
});
