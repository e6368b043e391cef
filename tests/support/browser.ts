/**
 * Headless Chromium for the browser suites: Debian's `chromium` driven by playwright-core
 * (no browser download). Each launch gets a fresh profile in a temporary directory.
 *
 * When the binary is missing the suite fails, with the command that installs it; outside
 * CI, AUTHCHART_SKIP_BROWSER=1 skips it instead, with a warning that says so.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { describe, test } from 'vitest';

/** Where Debian's `chromium` package puts the browser. */
export const chromiumPath = process.env.AUTHCHART_CHROMIUM ?? '/usr/bin/chromium';

/** Flags for a quiet, offline-friendly headless run (no sandbox: containers run as root). */
export const chromiumFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

export interface LaunchedBrowser {
  /** A browser context with its own fresh profile. */
  context: BrowserContext;
  /** Close the browser and delete its profile. */
  close(): Promise<void>;
}

/**
 * Launch headless Chromium with a fresh `--user-data-dir`.
 * @example
 * const { context, close } = await launchChromium()
 * const page = await context.newPage()
 */
export async function launchChromium(options: { timeoutMs?: number; viewport?: { width: number; height: number } } = {}): Promise<LaunchedBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'authchart-chromium-'));
  let context: BrowserContext;
  try {
    // Playwright passes the profile as --user-data-dir itself; it refuses it in `args`.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: [...chromiumFlags],
      timeout: options.timeoutMs ?? 20_000,
      viewport: options.viewport ?? { width: 1280, height: 800 },
    });
  } catch (error) {
    await removeProfile(profile);
    throw error;
  }
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      await removeProfile(profile);
    },
  };
}

/**
 * `describe` for suites that need Chromium. Without the binary, the suite becomes one
 * failing test naming the fix (in CI always; elsewhere unless AUTHCHART_SKIP_BROWSER=1,
 * which skips it with a warning on stderr). Never a silent skip.
 */
export function describeWithChromium(name: string, body: () => void): void {
  if (existsSync(chromiumPath)) {
    describe(name, body);
    return;
  }
  const reason = `[authchart] ${name}: Chromium not found at ${chromiumPath}. Install it (Debian: apt-get install chromium, or node scripts/setup.mjs as root), or set AUTHCHART_CHROMIUM.`;
  if (process.env.CI !== 'true' && process.env.AUTHCHART_SKIP_BROWSER === '1') {
    process.stderr.write(`\n!!! SKIPPED ${reason}\n!!! (AUTHCHART_SKIP_BROWSER=1; CI never skips)\n\n`);
    describe.skip(name, body);
    return;
  }
  describe(name, () => {
    test('Chromium is installed', () => {
      throw new Error(reason);
    });
  });
}

/**
 * Remove a Chromium profile directory. Its helper processes may still be writing in it for a
 * moment after the browser exits (ENOTEMPTY on a busy machine): retried, and a leftover
 * temporary directory does not fail the suite.
 */
export async function removeProfile(profile: string): Promise<void> {
  await rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }).catch((error: unknown) => {
    console.warn(`[browser] could not remove ${profile}: ${(error as Error).message}`);
  });
}
