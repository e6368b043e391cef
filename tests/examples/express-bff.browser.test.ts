/**
 * The Express backend-for-frontend example for real: started with the README's command
 * (tsx, two processes sharing one redis-server behind a round-robin balancer, all on
 * 127.0.0.1), driven by headless Chromium. The referee is the strict rotating token server
 * over HTTP with 3-second access tokens (the test waits for a real expiry). A second site
 * (http://localhost:…, another site than 127.0.0.1) tries to use the session.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServers, type TestServers } from '../../adapters/testing/node-server.js';
import { createTokenServer, issuedSecrets, type TokenServer } from '../../adapters/testing/token-server.js';
import { startBalancer, type Balancer } from '../support/balancer.js';
import { describeWithChromium, launchChromium, type LaunchedBrowser } from '../support/browser.js';
import { repoRoot } from '../support/next-app.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

const TTL_SECONDS = 3;
const WIDGETS = 8;

interface Example {
  url: string;
  output: () => string;
  stop(): Promise<void>;
}

/** `npm run example:express-bff`, as the README says, with the test's servers and a free port. */
async function startExample(env: Record<string, string>): Promise<Example> {
  const child: ChildProcess = spawn(
    process.execPath,
    [join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), '--tsconfig', 'examples/express-bff/tsconfig.json', 'examples/express-bff/server.ts'],
    { cwd: repoRoot, env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stderr!.on('data', (chunk) => (output += String(chunk)));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the example did not start within 60 s:\n${output}`)), 60_000);
    child.stdout!.on('data', (chunk) => {
      output += String(chunk);
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the example exited (${code}):\n${output}`));
    });
  });
  return {
    url,
    output: () => output,
    async stop() {
      process.off('exit', kill);
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** Another site: pages that try to use the BFF with the user's cookie. */
async function startOtherSite(target: string): Promise<{ origin: string; close(): Promise<void> }> {
  const pages: Record<string, string> = {
    '/navigate': `<script>location.href = ${JSON.stringify(`${target}/bff/widgets/revenue`)}</script>`,
    '/form': `<form method="post" action="${target}/bff/orders"><input name="item" value="x"></form><script>document.forms[0].submit()</script>`,
    '/fetch': `<script>fetch(${JSON.stringify(`${target}/bff/widgets/revenue`)}, { credentials: 'include', mode: 'no-cors' }).then(() => { document.title = 'sent' }, () => { document.title = 'sent' })</script>`,
  };
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end(pages[req.url ?? ''] ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    // Same machine, another site: "localhost" is not "127.0.0.1".
    origin: `http://localhost:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const widgetsDone = async (page: Page, round: number) => {
  await page.waitForFunction((round) => Number(document.querySelector('[data-testid="widgets"]')?.getAttribute('data-round')) > round, round, {
    timeout: 30_000,
  });
  return {
    failed: Number(await page.getAttribute('[data-testid="widgets"]', 'data-failed')),
    ok: await page.locator('[data-testid="widget"][data-status="ok"]').count(),
  };
};
const round = async (page: Page) => Number(await page.getAttribute('[data-testid="widgets"]', 'data-round'));

describeWithChromium('example app: express-bff (Express 5 backend-for-frontend) in headless Chromium', () => {
  let redis: RedisServer;
  let tokens: TokenServer;
  let servers: TestServers;
  let examples: Example[] = [];
  let balancer: Balancer;
  let browser: LaunchedBrowser;
  let page: Page;
  const failed: string[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    tokens = createTokenServer({ accessTokenTtlSeconds: TTL_SECONDS });
    servers = await startTestServers(tokens);
    const env = { TOKEN_ENDPOINT: servers.tokenEndpoint, API_URL: servers.api, REDIS_URL: redis.url };
    examples = await Promise.all([startExample(env), startExample(env)]);
    balancer = await startBalancer(examples.map((example) => example.url));
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.setDefaultTimeout(30_000);
    page.on('response', (response) => {
      if (response.status() >= 400 && response.url().startsWith(balancer.url) && !response.url().endsWith('/bff/me'))
        failed.push(`${response.status()} ${response.url()}`);
    });
    page.on('requestfailed', (request) => failed.push(`${request.failure()?.errorText} ${request.url()}`));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await balancer?.close();
    await Promise.all(examples.map((example) => example.stop()));
    await servers?.close();
    await redis?.stop();
  });

  const sessionCookie = async () => (await browser.context.cookies(balancer.url)).find((c) => c.name === 'authchart.sid');

  test('signed out: the page offers sign-in (the BFF answers 401 not_signed_in)', async () => {
    await page.goto(`${balancer.url}/`);
    await page.waitForSelector('#signin:not([hidden])');
    const answer = await page.evaluate(async () => {
      const response = await fetch('/bff/me');
      return { status: response.status, body: await response.json() };
    });
    expect(answer).toEqual({ status: 401, body: { error: 'not_signed_in' } });
  });

  test('signs in: an httpOnly, SameSite=Lax cookie holding only a session id; the widgets load through the BFF', async () => {
    await page.getByRole('button', { name: 'Sign in as the demo user' }).click();
    expect(await widgetsDone(page, 0)).toEqual({ failed: 0, ok: WIDGETS });
    const cookie = await sessionCookie();
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: true });
    expect(cookie!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const secret of issuedSecrets()) expect(cookie!.value).not.toContain(secret);
    expect(await page.evaluate(() => document.cookie)).toBe('');
  });

  test(`after expiry, ${WIDGETS} parallel BFF calls on both instances: one token call, none failed, the session alive`, async () => {
    await new Promise((resolve) => setTimeout(resolve, TTL_SECONDS * 1000 + 400));
    tokens.resetStats();
    failed.length = 0;
    const before = (await sessionCookie())!.value;
    const counts = [...balancer.counts];
    const done = await round(page);
    await page.getByTestId('reload-all').click();
    const result = await widgetsDone(page, done);
    const perInstance = balancer.counts.map((n, i) => n - counts[i]!);
    console.log(
      `[figures] express-bff: parallel=${WIDGETS} instances=2 perInstance=${perInstance.join('/')} tokenCalls=${tokens.stats.refreshCalls} failed=${failed.length} reuse=${tokens.stats.reuseDetected}`,
    );
    expect(result).toEqual({ failed: 0, ok: WIDGETS });
    expect(failed).toEqual([]);
    expect(perInstance.every((n) => n > 0)).toBe(true);
    // One token call per expiry (a cycle slower than a token lifetime may meet the next one, never sooner).
    const calls = tokens.calls;
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls.every((c) => c.outcome === 'rotated')).toBe(true);
    for (let i = 1; i < calls.length; i++) expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(TTL_SECONDS * 1000 - 500);
    expect((await sessionCookie())!.value).toBe(before);
    await page.getByTestId('reload-all').click();
    expect(await widgetsDone(page, done + 1)).toEqual({ failed: 0, ok: WIDGETS });
    expect(tokens.stats.reuseDetected).toBe(0);
  }, 60_000);

  test('another site cannot use the session: a top-level navigation is refused (403), a form post and a fetch never reach the API', async () => {
    const other = await startOtherSite(balancer.url);
    try {
      const apiCalls = tokens.stats.resourceCalls;
      const attacker = await browser.context.newPage();
      // Lax sends the cookie on a top-level GET navigation; the cross-site check refuses it.
      const navigation = attacker.waitForResponse((response) => response.url() === `${balancer.url}/bff/widgets/revenue`);
      await attacker.goto(`${other.origin}/navigate`);
      const refused = await navigation;
      expect(refused.status()).toBe(403);
      expect(await refused.json()).toEqual({ error: 'csrf_rejected' });
      // A cross-site form post (no cookie under Lax, and refused anyway).
      const posted = attacker.waitForResponse((response) => response.url() === `${balancer.url}/bff/orders`);
      await attacker.goto(`${other.origin}/form`);
      expect([401, 403]).toContain((await posted).status());
      // A cross-site fetch with credentials.
      await attacker.goto(`${other.origin}/fetch`);
      await attacker.waitForFunction(() => document.title === 'sent');
      await attacker.close();
      expect(tokens.stats.resourceCalls).toBe(apiCalls);
      // The user's own page still works (in front again: a background tab gets no animation frames).
      await page.bringToFront();
      const done = await round(page);
      await page.getByTestId('reload-all').click();
      expect(await widgetsDone(page, done)).toEqual({ failed: 0, ok: WIDGETS });
    } finally {
      await other.close();
    }
  }, 60_000);
});
