/**
 * Headless Chromium for the browser suites: Debian's chromium driven by playwright-core
 * (Playwright's own browser download is not possible here). A missing browser is a failure,
 * never a silent skip: `npm test` installs it through scripts/setup.mjs.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.AUTHCHART_CHROMIUM ?? '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface LaunchedBrowser {
  context: BrowserContext;
  browser: Browser | null;
  close(): Promise<void>;
}

/** Launch Chromium with a fresh profile; one context, so its pages share an origin's storage like tabs. */
export async function launchChromium(): Promise<LaunchedBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`[authchart tests] Chromium is missing at ${CHROMIUM}: run "node scripts/setup.mjs" (apt-get install chromium) or set AUTHCHART_CHROMIUM.`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'authchart-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: FLAGS, headless: true });
  return {
    context,
    browser: context.browser(),
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
