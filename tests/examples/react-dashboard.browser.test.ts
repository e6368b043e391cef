/**
 * The React example in a real browser: the example is built with Vite, served by Vite's
 * preview server (with the demo's real token server and API on 127.0.0.1) and driven in
 * headless Chromium. Real time, bounded: every wait has a timeout.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { issuedSecrets } from '../../adapters/testing/token-server.js';
import type { DemoBackend } from '../../examples/react-dashboard/backend.js';
import { dashboardConfig } from '../../examples/react-dashboard/vite.config.js';
import { describeWithChromium, launchChromium, type LaunchedBrowser } from '../support/browser.js';

const WIDGETS = 6;
// The committed screenshot is rewritten only on request (AUTHCHART_UPDATE_SCREENSHOT=1);
// other runs leave the checkout clean and write theirs to the temp directory.
const SCREENSHOT =
  process.env.AUTHCHART_UPDATE_SCREENSHOT === '1'
    ? fileURLToPath(new URL('../../examples/react-dashboard/screenshot.png', import.meta.url))
    : join(tmpdir(), 'authchart-react-dashboard.png');

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

interface WidgetView {
  name: string;
  status: string;
  loads: number;
}

const widgets = (page: Page): Promise<WidgetView[]> =>
  page.$$eval('[data-testid="widget"]', (nodes) =>
    nodes.map((node) => ({
      name: node.getAttribute('data-name') ?? '',
      status: node.getAttribute('data-status') ?? '',
      loads: Number(node.getAttribute('data-loads')),
    })),
  );

/** Wait until every widget shows a successful load beyond `after` (by name), and the machine is idle. */
async function allReloaded(page: Page, after: Record<string, number>): Promise<void> {
  await page.waitForFunction(
    (previous) => {
      const nodes = [...document.querySelectorAll('[data-testid="widget"]')];
      const idle = document.querySelector('[data-testid="badge"]')?.getAttribute('data-state') === 'idle';
      return (
        idle &&
        nodes.length === Object.keys(previous).length &&
        nodes.every(
          (node) =>
            node.getAttribute('data-status') === 'ok' && Number(node.getAttribute('data-loads')) > (previous[node.getAttribute('data-name') ?? ''] ?? 0),
        )
      );
    },
    after,
    { timeout: 10_000 },
  );
}

const redirects = (page: Page) => page.evaluate(() => (window as unknown as { authchartDemo: { redirects: number } }).authchartDemo.redirects);
const badgeState = (page: Page) => page.getAttribute('[data-testid="badge"]', 'data-state');

describeWithChromium('example app: react-dashboard in headless Chromium', () => {
  let outDir = '';
  let server: PreviewServer | undefined;
  let backend: DemoBackend | undefined;
  let browser: LaunchedBrowser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'authchart-dashboard-'));
    // React's development build, so that <StrictMode> mounts everything twice in the browser too.
    const config = dashboardConfig();
    await within(
      30_000,
      'vite build of the example',
      build({
        ...config,
        configFile: false,
        logLevel: 'warn',
        define: { 'process.env.NODE_ENV': JSON.stringify('development') },
        build: { ...config.build, outDir, emptyOutDir: true, chunkSizeWarningLimit: 2_000 },
      }),
    );
    server = await preview({
      ...dashboardConfig({ onReady: (ready) => (backend = ready) }),
      configFile: false,
      logLevel: 'warn',
      build: { outDir },
      preview: { host: '127.0.0.1', port: 0, strictPort: false, open: false },
    });
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (error) => pageErrors.push(String(error)));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  test('starts without a session: redirected to sign-in once; signed in, all widgets load at once', async () => {
    const url = server!.resolvedUrls!.local[0]!;
    await page.goto(url);
    await page.waitForFunction(() => location.hash.startsWith('#/login'));
    expect(await page.evaluate(() => location.hash)).toBe('#/login?reason=noSession');
    expect(await redirects(page)).toBe(1);

    await page.getByRole('button', { name: 'Sign in as the demo user' }).click();
    await allReloaded(page, { revenue: 0, 'active-users': 0, orders: 0, latency: 0, errors: 0, deploys: 0 });
    expect((await widgets(page)).length).toBe(WIDGETS);
    expect(await redirects(page)).toBe(1);
    // Signing in is the one token call (the password grant); loading the widgets needs no refresh.
    expect(backend!.tokens.stats.tokenCalls).toBe(1);
    expect(backend!.tokens.stats.refreshCalls).toBe(0);
  });

  test('expiring the token: every widget reloads, with one token call', async () => {
    const before = Object.fromEntries((await widgets(page)).map((w) => [w.name, w.loads]));
    backend!.tokens.resetStats();

    await page.getByRole('button', { name: 'Expire access token' }).click();
    await allReloaded(page, before);

    const stats = backend!.tokens.stats;
    expect(stats.refreshCalls).toBe(1);
    expect(stats.reuseDetected).toBe(0);
    // The herd was real: every widget's request came back 401 before the refresh.
    expect(stats.resourceUnauthorized).toBeGreaterThanOrEqual(WIDGETS);
    const after = await widgets(page);
    expect(after.every((w) => w.status === 'ok' && w.loads > before[w.name]!)).toBe(true);

    await page.waitForSelector('[data-testid="stats"][data-refresh-calls="1"]');
    await page.waitForFunction(() => document.querySelector('.log li')?.textContent?.includes('refreshed (unauthorized'));
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  test('a token server answering 503 puts the machine in backoff; repaired, every widget recovers', async () => {
    const before = Object.fromEntries((await widgets(page)).map((w) => [w.name, w.loads]));
    backend!.tokens.resetStats();

    await page.getByRole('button', { name: 'Break token server (503)' }).click();
    await page.waitForSelector('[data-testid="stats"][data-broken="true"]');
    await page.getByRole('button', { name: 'Expire access token' }).click();
    await page.waitForSelector('[data-testid="badge"][data-state="backoff"]');
    await page.getByRole('button', { name: 'Repair token server' }).click();
    await allReloaded(page, before);

    const outcomes = backend!.tokens.calls.map((call) => call.outcome);
    expect(outcomes[0]).toBe('fault:unavailable');
    expect(outcomes.at(-1)).toBe('rotated');
    expect(outcomes.filter((outcome) => outcome === 'rotated')).toHaveLength(1);
    expect(backend!.tokens.stats.reuseDetected).toBe(0);
  });

  test('revoking the session ends it: one redirect to sign-in, and no loop', async () => {
    const redirectsBefore = await redirects(page);
    await page.getByRole('button', { name: 'Revoke session' }).click();
    // invalid_grant three times, through backoff(1) and backoff(2).
    await page.waitForFunction(() => location.hash === '#/login?reason=permanentFailures', undefined, { timeout: 15_000 });
    expect(await badgeState(page)).toBe('loggedOut');
    expect(await page.textContent('[data-testid="logged-out-reason"]')).toContain('revoked');

    // Widget polls and re-renders after the redirect do not redirect again.
    await page.waitForTimeout(1_500);
    expect(await redirects(page)).toBe(redirectsBefore + 1);
    expect(backend!.tokens.stats.reuseDetected).toBe(0);
  });

  test('the page never shows or stores a token, and throws no error', async () => {
    const html = await page.content();
    const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    const secrets = issuedSecrets().filter((secret) => secret.startsWith('at_') || secret.startsWith('rt_'));
    expect(secrets.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(html).not.toContain(secret);
      expect(storage).not.toContain(secret);
    }
    expect(pageErrors).toEqual([]);
  });
});
