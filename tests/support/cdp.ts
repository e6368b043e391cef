/**
 * Headless Chromium driven over a bare DevTools pipe, for the suites that freeze tabs.
 *
 * Why not playwright-core here: Chromium does not freeze a page (`Page.setWebLifecycleState`
 * `frozen`) while a DevTools session has focus emulation on, or has the Runtime or Page
 * domain enabled: the page gets its `freeze` event, yet its timers, messages and promises run
 * on. Playwright enables all three on every page (and launches with
 * `--disable-renderer-backgrounding`). This driver enables no domain: it only evaluates
 * (`Runtime.evaluate` works without `Runtime.enable`) and sets the lifecycle state, so a
 * frozen tab here runs nothing until it is resumed, as a tab Chrome froze in the background.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { chromiumFlags, chromiumPath, removeProfile } from './browser.js';

export interface CdpTab {
  /** Run `fn(arg)` in the tab and resolve with its (JSON-serialisable) result. */
  evaluate<R, A = undefined>(fn: (arg: A) => R | Promise<R>, arg?: A): Promise<Awaited<R>>;
  /** Freeze the tab as Chrome freezes a background tab: nothing in it runs until `resume()`. */
  freeze(): Promise<void>;
  resume(): Promise<void>;
  /** Bring the tab to the front: it becomes the visible one (the others are hidden, with throttled timers). */
  activate(): Promise<void>;
  close(): Promise<void>;
}

export interface CdpBrowser {
  /** Open a tab on `url`; resolves once `ready` (an expression) is true in it. */
  newTab(url: string, ready?: string): Promise<CdpTab>;
  close(): Promise<void>;
}

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: Error) => void;
}

/**
 * Launch headless Chromium with a fresh profile, talking DevTools over `--remote-debugging-pipe`.
 * @example
 * const browser = await launchCdpChromium()
 * const tab = await browser.newTab('http://127.0.0.1:8080/')
 * await tab.freeze()
 */
export async function launchCdpChromium(options: { timeoutMs?: number } = {}): Promise<CdpBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'authchart-cdp-'));
  const child: ChildProcess = spawn(chromiumPath, [...chromiumFlags, '--remote-debugging-pipe', `--user-data-dir=${profile}`, 'about:blank'], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'],
  });
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let buffered = '';
  let exited = false;
  const failAll = (why: string) => {
    for (const { reject } of pending.values()) reject(new Error(why));
    pending.clear();
  };
  child.once('exit', () => {
    exited = true;
    failAll('Chromium exited');
  });
  fromBrowser.setEncoding('utf8');
  fromBrowser.on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\0'); end >= 0; end = buffered.indexOf('\0')) {
      const message = JSON.parse(buffered.slice(0, end)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      buffered = buffered.slice(end + 1);
      if (message.id === undefined) continue; // an event: no domain is enabled, so few come
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(`CDP: ${message.error.message}`));
      else waiter?.resolve(message.result ?? {});
    }
  });
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string, timeoutMs = 30_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      if (exited) {
        reject(new Error('Chromium exited'));
        return;
      }
      const id = ++nextId;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`CDP: ${method} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });

  try {
    await send('Browser.getVersion', {}, undefined, options.timeoutMs ?? 20_000);
  } catch (error) {
    child.kill('SIGKILL');
    await removeProfile(profile);
    throw error;
  }

  return {
    async newTab(url, ready = 'document.readyState === "complete"') {
      const { targetId } = (await send('Target.createTarget', { url })) as { targetId: string };
      const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
      const evaluateExpression = async (expression: string) => {
        const reply = (await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, sessionId)) as {
          result: { value?: unknown };
          exceptionDetails?: { text: string; exception?: { description?: string } };
        };
        if (reply.exceptionDetails) throw new Error(reply.exceptionDetails.exception?.description ?? reply.exceptionDetails.text);
        return reply.result.value;
      };
      const deadline = Date.now() + 15_000;
      while (!(await evaluateExpression(`Boolean(${ready})`).catch(() => false))) {
        if (Date.now() > deadline) throw new Error(`the tab on ${url} was not ready within 15 s`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return {
        evaluate: (fn, arg) => evaluateExpression(`(${fn.toString()})(${arg === undefined ? '' : JSON.stringify(arg)})`) as never,
        freeze: async () => void (await send('Page.setWebLifecycleState', { state: 'frozen' }, sessionId)),
        resume: async () => void (await send('Page.setWebLifecycleState', { state: 'active' }, sessionId)),
        activate: async () => void (await send('Target.activateTarget', { targetId })),
        close: async () => void (await send('Target.closeTarget', { targetId }).catch(() => undefined)),
      };
    },
    async close() {
      await send('Browser.close', {}, undefined, 5000).catch(() => undefined);
      if (!exited) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 5000))]);
      }
      await removeProfile(profile);
    },
  };
}
