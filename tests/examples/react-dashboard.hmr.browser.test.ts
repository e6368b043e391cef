/**
 * Hot reload in a real browser: the example served by Vite's dev server (React's
 * development build, <StrictMode>, Fast Refresh) in headless Chromium. Re-executing the
 * module that creates the session must hand back the running session: still signed in,
 * no page reload, no new token call, one session in the registry.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { DemoBackend } from '../../examples/react-dashboard/backend.js';
import { dashboardConfig } from '../../examples/react-dashboard/vite.config.js';
import { describeWithChromium, launchChromium, type LaunchedBrowser } from '../support/browser.js';

const allWidgetsOk = (page: Page) =>
  page.waitForFunction(() => {
    const nodes = [...document.querySelectorAll('[data-testid="widget"]')];
    return nodes.length === 6 && nodes.every((node) => node.getAttribute('data-status') === 'ok');
  });

describeWithChromium('example app: hot reload of the session module in headless Chromium', () => {
  let cacheDir = '';
  let server: ViteDevServer | undefined;
  let backend: DemoBackend | undefined;
  let browser: LaunchedBrowser | undefined;
  let page: Page;

  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'authchart-vite-cache-'));
    const config = dashboardConfig({ onReady: (ready) => (backend = ready) });
    server = await createServer({
      ...config,
      configFile: false,
      cacheDir,
      logLevel: 'warn',
      server: { ...config.server, port: 0, strictPort: false },
    });
    await server.listen();
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.setDefaultTimeout(15_000);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  test('re-executing src/auth.ts keeps the running session: signed in, no reload, no token call', async () => {
    await page.goto(server!.resolvedUrls!.local[0]!);
    await page.getByRole('button', { name: 'Sign in as the demo user' }).click();
    await allWidgetsOk(page);
    await page.evaluate(() => Object.assign(window, { loadedBeforeHotReload: true }));
    const tokenCallsBefore = backend!.tokens.stats.tokenCalls;

    const client = server!.environments.client;
    const module = await client.moduleGraph.getModuleByUrl('/src/auth.ts');
    expect(module).toBeDefined();
    const updated = page.waitForEvent('console', { predicate: (message) => message.text().includes('hot updated: /src/App.tsx') });
    await client.reloadModule(module!);
    await updated;
    await allWidgetsOk(page);

    // Same page (no full reload), same session (a new one would start logged out).
    expect(await page.evaluate(() => (window as unknown as { loadedBeforeHotReload?: boolean }).loadedBeforeHotReload)).toBe(true);
    expect(await page.evaluate(() => location.hash)).toBe('#/');
    expect(await page.getAttribute('[data-testid="badge"]', 'data-status')).toBe('authenticated');
    expect(await page.evaluate(() => (globalThis as Record<symbol, Map<string, unknown>>)[Symbol.for('authchart.sharedSessions')]?.size)).toBe(1);
    expect(backend!.tokens.stats.tokenCalls).toBe(tokenCallsBefore);
  });
});
