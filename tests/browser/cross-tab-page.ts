/**
 * The page each browser tab loads in the cross-tab suite: an authchart fetch with the
 * cross-tab store and lock, driven by the test through `window.tab`.
 */
import { crossTab, webStorageStoreForTests } from './cross-tab-page-deps.js';
import { createAuthFetch, type AuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import type { LockHandle, RefreshLock } from '../../adapters/index.js';

interface TabConfig {
  tokenEndpoint: string;
  api: string;
  /** Hold the lock this long before calling the token endpoint (to close a tab while it holds the lock). */
  preSendDelayMs?: number;
  /** Use localStorage instead of IndexedDB (to show the hammer would see stale reads). */
  useLocalStorage?: boolean;
  leewayMs?: number;
  proactive?: boolean;
}

declare global {
  interface Window {
    tab: ReturnType<typeof createTab>;
  }
}

function createTab() {
  let authFetch: AuthFetch | undefined;
  let holdsLock = false;
  const states: string[] = [];
  const app401s = { count: 0 };

  /** Record whether this tab holds the refresh lock, for the tests. */
  const observed = (lock: RefreshLock): RefreshLock => ({
    async acquire(options) {
      const handle = await lock.acquire(options);
      holdsLock = true;
      return {
        release: async () => {
          holdsLock = false;
          await handle.release();
        },
      } satisfies LockHandle;
    },
  });

  return {
    init(config: TabConfig) {
      const chosen = crossTab({ name: 'authchart-test' });
      const store = config.useLocalStorage ? webStorageStoreForTests('authchart-test') : chosen.store;
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
        proactive: config.proactive,
        logger: (entry) => {
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
    status: () => authFetch!.getStatus(),
    holdsLock: () => holdsLock,
    states: () => states,
    logout: () => authFetch!.logout(),
    refresh: () => authFetch!.refresh().then(() => 'ok', (e: { code?: string }) => e.code ?? String(e)),
  };
}

window.tab = createTab();
