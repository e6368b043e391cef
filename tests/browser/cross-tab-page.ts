/**
 * The page each browser tab loads in the cross-tab suite: an authchart fetch with the
 * cross-tab store and lock, driven by the test through `window.tab`.
 */
import { crossTab, webStorageStoreForTests } from './cross-tab-page-deps.js';
import { createAuthFetch, type AuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import type { LockHandle, RefreshLock, TokenStore } from '../../adapters/index.js';

interface TabConfig {
  tokenEndpoint: string;
  api: string;
  /** Hold the lock this long before calling the token endpoint (to close a tab while it holds the lock). */
  preSendDelayMs?: number;
  /** Use localStorage instead of IndexedDB (to show the hammer would see stale reads). */
  useLocalStorage?: boolean;
  leewayMs?: number;
  minRefreshIntervalMs?: number;
  proactive?: boolean;
  /** Passed to crossTab(): how long a silent lock holder keeps the lock, and the hold bound. */
  staleMs?: number;
  maxHoldMs?: number;
}

declare global {
  interface Window {
    tab: ReturnType<typeof createTab>;
  }
}

function createTab() {
  let authFetch: AuthFetch | undefined;
  let sharedStore: TokenStore | undefined;
  let holdsLock = false;
  const states: string[] = [];
  const app401s = { count: 0 };
  /** What happened when (epoch ms, comparable across tabs), for the suites' timelines. */
  const timeline: [number, string][] = [];
  const mark = (what: string) => timeline.push([Math.round(performance.timeOrigin + performance.now()), what]);

  /** Record whether this tab holds the refresh lock, for the tests. */
  const observed = (lock: RefreshLock): RefreshLock => ({
    async acquire(options) {
      mark('lock.wait');
      const handle = await lock.acquire(options);
      mark('lock.held');
      holdsLock = true;
      return {
        signal: handle.signal,
        release: async () => {
          holdsLock = false;
          await handle.release();
        },
      } satisfies LockHandle;
    },
  });

  return {
    init(config: TabConfig) {
      const chosen = crossTab({ name: 'authchart-test', staleMs: config.staleMs, maxHoldMs: config.maxHoldMs });
      const store = config.useLocalStorage ? webStorageStoreForTests('authchart-test') : chosen.store;
      sharedStore = store;
      const oauth = oauthRefresher({ tokenEndpoint: config.tokenEndpoint, clientId: 'cross-tab-tests' });
      authFetch = createAuthFetch({
        refresh: async (refreshToken, context) => {
          if (config.preSendDelayMs) await new Promise((r) => setTimeout(r, config.preSendDelayMs));
          return oauth(refreshToken, context);
        },
        store,
        lock: chosen.lock ? observed(chosen.lock) : undefined,
        allowedOrigins: [new URL(config.api).origin],
        leewayMs: config.leewayMs,
        minRefreshIntervalMs: config.minRefreshIntervalMs,
        proactive: config.proactive,
        logger: (entry) => {
          mark(entry.type === 'state' ? entry.to : entry.type);
          if (entry.type === 'state') states.push(entry.to);
        },
      });
      return chosen.lockKind;
    },
    async login(username: string, tokenEndpoint: string) {
      const response = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'password', username, password: 'pw', client_id: 'cross-tab-tests' }),
      });
      const body = await response.json();
      await authFetch!.login({ accessToken: body.access_token, refreshToken: body.refresh_token, expiresAt: Date.now() + body.expires_in * 1000 });
    },
    /** Fire `count` requests at once; resolve with each one's status or error code. */
    async burst(api: string, count: number) {
      const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => authFetch!(`${api}/tab/${i}`)));
      return results.map((r) => {
        if (r.status === 'fulfilled') {
          if (r.value.status === 401) app401s.count++;
          return r.value.status;
        }
        return (r.reason as { code?: string }).code ?? String(r.reason);
      });
    },
    /** Start a request and keep its outcome for later. */
    queue(api: string) {
      const outcome: { value?: string | number } = {};
      authFetch!(`${api}/queued`).then(
        (r) => (outcome.value = r.status),
        (e: { code?: string }) => (outcome.value = e.code ?? String(e)),
      );
      return () => outcome.value;
    },
    pending: [] as (() => string | number | undefined)[],
    queueMany(api: string, count: number) {
      for (let i = 0; i < count; i++) this.pending.push(this.queue(api));
    },
    outcomes() {
      return this.pending.map((read) => read());
    },
    async poll(api: string, everyMs: number, forMs: number) {
      const statuses: (number | string)[] = [];
      const end = Date.now() + forMs;
      while (Date.now() < end) {
        statuses.push(...(await this.burst(api, 1)));
        await new Promise((r) => setTimeout(r, everyMs));
      }
      return statuses;
    },
    /** Start `count` requests now; `timed()` tells each one's outcome and how long it took. */
    queueTimed(api: string, count: number) {
      for (let i = 0; i < count; i++) {
        const entry: { value?: string | number; ms?: number; at?: number } = {};
        const started = performance.now();
        const settle = (value: string | number) =>
          Object.assign(entry, { value, ms: Math.round(performance.now() - started), at: Math.round(performance.timeOrigin + performance.now()) });
        authFetch!(`${api}/timed/${i}`).then(
          (r) => settle(r.status),
          (e: { code?: string }) => settle(e.code ?? String(e)),
        );
        this.timedRequests.push(entry);
      }
    },
    timedRequests: [] as { value?: string | number; ms?: number; at?: number }[],
    timed() {
      return this.timedRequests.map((entry) => ({ ...entry }));
    },
    /** The shared record's version, and whether this tab holds its access token (no token leaves the page). */
    async stored() {
      const record = await sharedStore!.get();
      if (!record) return { version: 0, held: false };
      const status = authFetch!.getStatus();
      const held = status.status === 'authenticated' && (await authFetch!.getAccessToken()) === record.accessToken;
      return { version: record.version, held };
    },
    timeline: () => timeline,
    status: () => authFetch!.getStatus(),
    holdsLock: () => holdsLock,
    states: () => states,
    logout: () => authFetch!.logout(),
    refresh: () =>
      authFetch!.refresh().then(
        () => 'ok',
        (e: { code?: string }) => e.code ?? String(e),
      ),
  };
}

// `?nolocks`: a browser without Web Locks (older Safari, some webviews), so crossTab() picks the lease.
if (new URLSearchParams(location.search).has('nolocks')) Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined });

window.tab = createTab();
