/**
 * The TokenStore and RefreshLock contracts against the browser drivers in real Chromium:
 * IndexedDB, broadcastStore(IndexedDB), the IndexedDB lease and Web Locks. The suites run
 * here in Node, unchanged; each driver lives in a page, and `store`/`lock` and `peer` live in
 * two different tabs of one origin, so "another handle" is another tab. Every call crosses
 * to its tab (see contract-page.ts); errors come back with their code, as from another realm.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import type { LockHandle, RefreshLock, StoredTokens, TokenSet, TokenStore } from '../../adapters/index.js';
import { describeWithChromium, launchChromium, type LaunchedBrowser } from '../support/browser.js';
import { describeRefreshLockContract } from '../support/contract/refresh-lock.js';
import { describeTokenStoreContract } from '../support/contract/token-store.js';
import type { WireError } from './contract-page.js';
import { serveBundle, type Site } from './site.js';

describeWithChromium('contracts in Chromium (drivers in two tabs, driven through the page)', () => {
  let site: Site;
  let browser: LaunchedBrowser;
  let tabs: [Page, Page];
  const notify = new Map<string, () => void>();
  const lost = new Map<string, AbortController>();
  let count = 0;
  const unique = (what: string) => `${what}-${++count}`;

  beforeAll(async () => {
    site = await serveBundle(new URL('./contract-page.ts', import.meta.url));
    browser = await launchChromium();
    const context: BrowserContext = browser.context;
    await context.exposeBinding('contractNotify', (_source, subscription: string) => notify.get(subscription)?.());
    await context.exposeBinding('contractLost', (_source, handle: string, reason: WireError) => lost.get(handle)?.abort(revive(reason)));
    tabs = [await context.newPage(), await context.newPage()];
    await Promise.all(tabs.map((tab) => tab.goto(site.url)));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  /** An error as it crossed from the page: an authchart error is recognised again by its brand. */
  function revive(e: WireError): Error {
    const error = Object.assign(new Error(e.message), { name: e.name });
    if (e.code) Object.assign(error, { code: e.code, kind: e.kind, reason: e.reason, [Symbol.for('authchart.error')]: true });
    return error;
  }

  /** A TokenStore whose every call runs in `tab`; calls wait for subscriptions being set up. */
  function storeIn(tab: Page, id: string, setup: Promise<unknown>[]): TokenStore {
    const call = async (op: 'get' | 'set' | 'clear', tokens?: TokenSet, options?: { expectedVersion?: number }) => {
      await Promise.all(setup);
      return tab.evaluate(([i, o, t, so]) => window.contract.store(i, o, t, so), [id, op, tokens, options] as const) as Promise<StoredTokens | null>;
    };
    return {
      get: () => call('get'),
      set: (tokens, options) => call('set', tokens, options),
      clear: async () => void (await call('clear')),
      subscribe(listener) {
        const subscription = unique('subscription');
        notify.set(subscription, listener);
        setup.push(tab.evaluate(([i, s]) => window.contract.subscribe(i, s), [id, subscription] as const));
        return () => void tab.evaluate((s) => window.contract.unsubscribe(s), subscription).then(() => notify.delete(subscription));
      },
    };
  }

  /** A RefreshLock whose acquire runs in `tab`; `signal` aborts there, and a lost handle's signal aborts here. */
  function lockIn(tab: Page, id: string): RefreshLock {
    return {
      async acquire({ signal, timeoutMs }) {
        const call = unique('call');
        const onAbort = () => void tab.evaluate((c) => window.contract.abort(c), call).catch(() => undefined);
        signal.addEventListener('abort', onAbort, { once: true });
        try {
          const outcome = await tab.evaluate(([i, c, t, a]) => window.contract.acquire(i, c, t, a), [id, call, timeoutMs, signal.aborted] as const);
          if (outcome.ok) {
            const loss = new AbortController();
            lost.set(outcome.handle, loss);
            const handle: LockHandle = { release: () => tab.evaluate((h) => window.contract.release(h), outcome.handle) };
            return outcome.signal ? { ...handle, signal: loss.signal } : handle;
          }
          if (outcome.aborted) throw signal.reason;
          throw revive(outcome.error!);
        } finally {
          signal.removeEventListener('abort', onAbort);
        }
      },
    };
  }

  for (const kind of ['indexeddb', 'broadcast'] as const) {
    describeTokenStoreContract({
      name: kind === 'indexeddb' ? 'IndexedDB (Chromium, two tabs)' : 'broadcastStore(IndexedDB) (Chromium, two tabs)',
      capabilities: { subscribe: kind === 'broadcast' },
      async create() {
        const database = unique('contract-store');
        const channel = `${database}.tokens`;
        const [store, peer, other] = [unique('store'), unique('store'), unique('store')];
        await tabs[0].evaluate(([i, k, o]) => window.contract.makeStore(i, k, o), [store, kind, { database, channel }] as const);
        await tabs[1].evaluate(([i, k, o]) => window.contract.makeStore(i, k, o), [peer, kind, { database, channel }] as const);
        await tabs[0].evaluate(([i, k, o]) => window.contract.makeStore(i, k, o), [
          other,
          kind,
          { database, key: 'other', channel: `${channel}-other` },
        ] as const);
        const setup: Promise<unknown>[] = [];
        return { store: storeIn(tabs[0], store, setup), peer: storeIn(tabs[1], peer, setup), other: storeIn(tabs[0], other, setup) };
      },
    });
  }

  for (const kind of ['web-locks', 'lease'] as const) {
    describeRefreshLockContract({
      name: kind === 'web-locks' ? 'Web Locks (Chromium, two tabs)' : 'lease (Chromium IndexedDB, two tabs)',
      capabilities: { lossSignal: true },
      async create({ maxHoldMs }) {
        const options = { name: unique('contract-lock'), database: unique('contract-lease'), maxHoldMs };
        const [lock, peer] = [unique('lock'), unique('lock')];
        await tabs[0].evaluate(([i, k, o]) => window.contract.makeLock(i, k, o), [lock, kind, options] as const);
        await tabs[1].evaluate(([i, k, o]) => window.contract.makeLock(i, k, o), [peer, kind, options] as const);
        return { lock: lockIn(tabs[0], lock), peer: lockIn(tabs[1], peer) };
      },
    });
  }
});
