/**
 * Cross-tab drivers in Node: IndexedDB from fake-indexeddb, Node's own BroadcastChannel
 * (delivered by the event loop, so these tests wait on outcomes with vi.waitFor instead
 * of faking time). Real tabs are exercised by the browser suite.
 */
import { IDBFactory } from 'fake-indexeddb';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { broadcastStore, crossTab, indexedDbStore, isChangeMessage, leaseLock } from '../../adapters/cross-tab/index.js';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { ErrorCode, isAuthchartError } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, testUrls, tokenServerHandlers } from '../../adapters/testing/index.js';

const network = setupServer();
beforeAll(() => network.listen({ onUnhandledRequest: 'error' }));
afterEach(() => network.resetHandlers());
afterAll(() => network.close());

const never = new AbortController().signal;

/** Write the lease record straight into the database, as another tab would have left it. */
async function putLease(indexedDB: IDBFactory, lease: Record<string, unknown>): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const open = indexedDB.open('authchart', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('records');
    open.onsuccess = () => {
      const tx = open.result.transaction('records', 'readwrite');
      tx.objectStore('records').put(lease, 'lease:authchart.refresh');
      tx.oncomplete = () => {
        open.result.close();
        resolve();
      };
      tx.onerror = () => reject(tx.error);
    };
  });
}

async function readLease(indexedDB: IDBFactory): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open('authchart', 1);
    open.onsuccess = () => {
      const request = open.result.transaction('records').objectStore('records').get('lease:authchart.refresh');
      request.onsuccess = () => {
        open.result.close();
        resolve(request.result);
      };
      request.onerror = () => reject(request.error);
    };
  });
}

describe('leaseLock (the fallback without Web Locks)', () => {
  it('two holders exclude each other; release wakes the waiter', async () => {
    const indexedDB = new IDBFactory();
    const a = leaseLock({ indexedDB, pollMs: 1000 });
    const b = leaseLock({ indexedDB, pollMs: 1000 });
    const held = await a.acquire({ signal: never, timeoutMs: 1000 });
    let bHeld = false;
    const waiting = b.acquire({ signal: never, timeoutMs: 5000 }).then((h) => {
      bHeld = true;
      return h;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(bHeld).toBe(false);
    const releasedAt = Date.now();
    await held.release();
    const second = await waiting;
    // Woken by the release message, not by its 1 s poll.
    expect(Date.now() - releasedAt).toBeLessThan(500);
    await second.release();
  });

  it('a lease from an older version of this lock (no beat) is judged by its expiresAt, then taken', async () => {
    const indexedDB = new IDBFactory();
    await putLease(indexedDB, { owner: 'old-version-tab', expiresAt: Date.now() + 300 });
    const started = Date.now();
    const handle = await leaseLock({ indexedDB, pollMs: 20 }).acquire({ signal: never, timeoutMs: 5000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(2000);
    await handle.release();
  });

  it('a lease that shows no renewal for staleMs (its tab closed, crashed or froze) is taken over, whatever its expiresAt', async () => {
    const indexedDB = new IDBFactory();
    // What a frozen tab leaves: its lease, renewed for the last time, with a far expiry.
    await putLease(indexedDB, { owner: 'frozen-tab', beat: 7, expiresAt: Date.now() + 3_600_000 });
    const started = Date.now();
    const handle = await leaseLock({ indexedDB, pollMs: 20, staleMs: 400 }).acquire({ signal: never, timeoutMs: 5000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await readLease(indexedDB)).not.toMatchObject({ owner: 'frozen-tab' });
    await handle.release();
  });

  it('a live holder answers the waiters’ pings, so it is never taken over however slow its timers', async () => {
    const indexedDB = new IDBFactory();
    // Renewals on its own timer only every 10 s (a background tab's throttled timers).
    const held = await leaseLock({ indexedDB, heartbeatMs: 10_000, staleMs: 300 }).acquire({ signal: never, timeoutMs: 500 });
    const error = await leaseLock({ indexedDB, staleMs: 300, pollMs: 20 })
      .acquire({ signal: never, timeoutMs: 1200 })
      .catch((e: unknown) => e);
    expect(isAuthchartError(error, ErrorCode.LOCK_TIMEOUT)).toBe(true);
    expect(held.signal?.aborted).toBe(false);
    await held.release();
  });

  it('a holder whose lease was taken over learns it at its next renewal, and its release leaves the new lease alone', async () => {
    const indexedDB = new IDBFactory();
    const held = await leaseLock({ indexedDB, heartbeatMs: 50 }).acquire({ signal: never, timeoutMs: 500 });
    // Another tab took the lease over while this one was silent.
    await putLease(indexedDB, { owner: 'new-holder', beat: 0, expiresAt: Date.now() + 3000 });
    await vi.waitFor(() => expect(held.signal?.aborted).toBe(true), { timeout: 1000 });
    expect(held.signal!.reason).toMatchObject({ kind: 'transient', reason: 'LOCK_LOST' });
    await held.release();
    expect(await readLease(indexedDB)).toMatchObject({ owner: 'new-holder' });
  });

  it('not acquired within timeoutMs: a transient LOCK_TIMEOUT', async () => {
    const indexedDB = new IDBFactory();
    const first = await leaseLock({ indexedDB }).acquire({ signal: never, timeoutMs: 100 });
    const error = await leaseLock({ indexedDB, pollMs: 10 })
      .acquire({ signal: never, timeoutMs: 150 })
      .catch((e: unknown) => e);
    expect(isAuthchartError(error, ErrorCode.LOCK_TIMEOUT)).toBe(true);
    expect(error).toMatchObject({ kind: 'transient' });
    await first.release();
  });
});

describe('BroadcastChannel sync between sessions ("tabs")', () => {
  function tabs(count: number) {
    const server = createTokenServer({ accessTokenTtlSeconds: 60 });
    network.use(...tokenServerHandlers(server));
    const indexedDB = new IDBFactory();
    const channel = `tabs-${Math.random()}`;
    const login = server.login();
    const created = Array.from({ length: count }, () =>
      createAuthFetch({
        refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'tabs' }),
        allowedOrigins: [new URL(testUrls.api).origin],
        store: broadcastStore(indexedDbStore({ indexedDB }), { channel }),
        lock: leaseLock({ indexedDB, pollMs: 10 }),
        debounceMs: 20,
      }),
    );
    return { server, login, tabs: created, channel };
  }

  it('a login in one tab reaches the others; a refresh in one releases the others with one token call; a logout logs all out', async () => {
    const {
      server,
      login,
      tabs: [a, b, c],
    } = tabs(3);
    await a!.login({ accessToken: login.access_token, refreshToken: login.refresh_token });
    await vi.waitFor(() => expect([b!, c!].map((t) => t.getStatus().status)).toEqual(['authenticated', 'authenticated']));

    server.expireAccessTokens();
    const results = await Promise.all([a!, b!, c!].flatMap((tab) => Array.from({ length: 5 }, (_, i) => tab(`${testUrls.api}/x/${i}`))));
    expect(results.map((r) => r.status)).toEqual(Array(15).fill(200));
    expect(server.stats.refreshCalls).toBe(1);
    expect(server.stats.reuseDetected).toBe(0);

    server.fault({ type: 'delay', ms: 60_000 });
    server.expireAccessTokens();
    const queued = c!(`${testUrls.api}/queued`).catch((e: unknown) => e);
    await vi.waitFor(() => expect(c!.getStatus().queued).toBe(1));
    await a!.logout();
    await vi.waitFor(() => expect([b!, c!].map((t) => t.getStatus().state)).toEqual(['loggedOut', 'loggedOut']));
    expect(isAuthchartError(await queued, ErrorCode.SESSION_EXPIRED)).toBe(true);
    await Promise.all([a!, b!, c!].map((t) => t.dispose()));
  });

  it('messages carry no token, and malformed or foreign messages are ignored', async () => {
    const {
      login,
      tabs: [a, b],
      channel,
    } = tabs(2);
    const heard: unknown[] = [];
    const listener = new BroadcastChannel(channel);
    listener.onmessage = (event) => heard.push(event.data);
    await a!.login({ accessToken: login.access_token, refreshToken: login.refresh_token });
    await vi.waitFor(() => expect(heard).toHaveLength(1));
    expect(heard[0]).toEqual({ source: 'authchart', v: 1, kind: 'set', version: expect.any(Number) });
    expect(JSON.stringify(heard)).not.toContain(login.access_token);

    const sender = new BroadcastChannel(channel);
    for (const junk of [
      null,
      'clear',
      { source: 'other', kind: 'clear' },
      { source: 'authchart', v: 2, kind: 'clear', version: 1 },
      { source: 'authchart', v: 1, kind: 'drop', version: 1 },
    ]) {
      sender.postMessage(junk);
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(b!.getStatus().status).toBe('authenticated');
    expect([null, 'x', {}, { source: 'authchart', v: 1, kind: 'set', version: -1 }].some(isChangeMessage)).toBe(false);
    sender.close();
    listener.close();
    await Promise.all([a!, b!].map((t) => t.dispose()));
  });
});

describe('crossTab() picks what the browser has', () => {
  it('Web Locks when present, the IndexedDB lease without them, nothing with neither', () => {
    vi.stubGlobal('indexedDB', new IDBFactory());
    vi.stubGlobal('navigator', { locks: {} });
    expect(crossTab().lockKind).toBe('web-locks');
    vi.stubGlobal('navigator', {});
    expect(crossTab().lockKind).toBe('lease');
    vi.stubGlobal('indexedDB', undefined);
    expect(crossTab()).toMatchObject({ lockKind: 'none', lock: undefined });
  });
});
