import { describe, expect, it, vi } from 'vitest';
import { createHarness, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

const HOUR = 3_600_000;

/** A request uses the current token: the session is in use, so it refreshes ahead (R13). */
async function use(session: { getAccessToken(): Promise<string> }) {
  await session.getAccessToken();
}

describe('R8: proactive refresh', () => {
  it('steady traffic across ten token lifetimes: ten token calls, zero 401s seen by the app or the server', async () => {
    const { server, authFetch, api } = await createHarness({ server: { accessTokenTtlSeconds: 3600 } });
    const refreshed: string[] = [];
    authFetch.on('refreshed', (e) => refreshed.push(e.trigger));
    const statuses: number[] = [];
    for (let minute = 0; minute < 600; minute++) {
      const response = track(authFetch(api(`/poll/${minute}`)));
      await vi.advanceTimersByTimeAsync(60_000);
      statuses.push((response.value as Response).status);
    }
    expect(statuses).toHaveLength(600);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(server.stats.resourceUnauthorized).toBe(0);
    expect(server.stats.refreshCalls).toBe(10);
    expect(refreshed).toEqual(Array(10).fill('proactive'));
  });

  it('refreshes leewayMs (default 30 s) before the expiry', async () => {
    const { server, authFetch } = await createHarness({ server: { accessTokenTtlSeconds: 3600 } });
    await use(authFetch);
    await vi.advanceTimersByTimeAsync(HOUR - 30_001);
    expect(server.stats.refreshCalls).toBe(0);
    await vi.advanceTimersByTimeAsync(2);
    expect(server.stats.refreshCalls).toBe(1);
    expect(authFetch.getStatus().lastRefresh).toMatchObject({ outcome: 'ok' });
  });

  it('never refreshes earlier than half the lifetime', async () => {
    const { server, authFetch } = await createHarness({ server: { accessTokenTtlSeconds: 40 }, client: { leewayMs: 30_000 } });
    await use(authFetch);
    await vi.advanceTimersByTimeAsync(19_999);
    expect(server.stats.refreshCalls).toBe(0);
    await vi.advanceTimersByTimeAsync(2);
    expect(server.stats.refreshCalls).toBe(1);
  });

  it('a manual refresh() during a proactive one joins it', async () => {
    const { server, authFetch } = await createHarness({ server: { accessTokenTtlSeconds: 3600 } });
    server.fault({ type: 'delay', ms: 500 });
    await use(authFetch);
    await vi.advanceTimersByTimeAsync(HOUR - 30_000 + 100);
    expect(authFetch.getStatus().state).toBe('refreshing');
    const manual = track(authFetch.refresh());
    await vi.advanceTimersByTimeAsync(600);
    expect(manual.settled).toBe(true);
    expect(manual.error).toBeUndefined();
    expect(server.stats.refreshCalls).toBe(1);
  });

  it('a login while idle re-arms the proactive timer for the new expiry', async () => {
    const { server, authFetch } = await createHarness({ server: { accessTokenTtlSeconds: 3600 } });
    await vi.advanceTimersByTimeAsync(0);
    // Signed in again with tokens that expire in 2 minutes: the refresh is due 30 s before.
    const fresh = server.login();
    await authFetch.login({ accessToken: fresh.access_token, refreshToken: fresh.refresh_token, expiresAt: Date.now() + 120_000 });
    await use(authFetch);
    await vi.advanceTimersByTimeAsync(89_000);
    expect(server.stats.refreshCalls).toBe(0);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(server.stats.refreshCalls).toBe(1);
    expect(authFetch.getStatus().lastRefresh).toMatchObject({ outcome: 'ok' });
  });

  it('proactive: false refreshes only on a 401', async () => {
    const { server } = await createHarness({ server: { accessTokenTtlSeconds: 60 }, client: { proactive: false } });
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(server.stats.refreshCalls).toBe(0);
  });
});

describe('R8: the wall clock is re-checked on wake', () => {
  function fakeBrowserEvents() {
    const win = new EventTarget();
    const doc = Object.assign(new EventTarget(), { visibilityState: 'hidden' as DocumentVisibilityState });
    vi.stubGlobal('addEventListener', win.addEventListener.bind(win));
    vi.stubGlobal('removeEventListener', win.removeEventListener.bind(win));
    vi.stubGlobal('document', doc);
    return { win, doc };
  }

  it.each(['focus', 'online', 'visibilitychange'])('after a sleep past the refresh time, %s refreshes at once', async (type) => {
    const { win, doc } = fakeBrowserEvents();
    const { server, authFetch } = await createHarness({ server: { accessTokenTtlSeconds: 3600 } });
    await use(authFetch);
    // The machine slept for two hours: no timer fired.
    vi.setSystemTime(Date.now() + 2 * HOUR);
    expect(server.stats.refreshCalls).toBe(0);
    doc.visibilityState = 'visible';
    (type === 'visibilitychange' ? doc : win).dispatchEvent(new Event(type));
    await vi.advanceTimersByTimeAsync(1);
    expect(server.stats.refreshCalls).toBe(1);
  });

  it('a wake before the refresh time only re-arms the timer', async () => {
    const { win } = fakeBrowserEvents();
    const { server, authFetch } = await createHarness({ server: { accessTokenTtlSeconds: 3600 } });
    await use(authFetch);
    await vi.advanceTimersByTimeAsync(60_000);
    win.dispatchEvent(new Event('focus'));
    await vi.advanceTimersByTimeAsync(1);
    expect(server.stats.refreshCalls).toBe(0);
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(server.stats.refreshCalls).toBe(1);
  });
});

describe('R8: a wake source of the host', () => {
  it('a custom wake source (React Native AppState, a worker) re-checks the clock, and is stopped by dispose()', async () => {
    let wake: (() => void) | undefined;
    let stopped = 0;
    const { server, authFetch } = await createHarness({
      server: { accessTokenTtlSeconds: 3600 },
      client: {
        wake: (onWake) => {
          wake = onWake;
          return () => stopped++;
        },
      },
    });
    await use(authFetch);
    vi.setSystemTime(Date.now() + 2 * HOUR);
    expect(server.stats.refreshCalls).toBe(0);
    wake!();
    await vi.advanceTimersByTimeAsync(1);
    expect(server.stats.refreshCalls).toBe(1);
    await authFetch.dispose();
    expect(stopped).toBe(1);
  });

  it('wake: false listens to nothing, even in a browser', async () => {
    const win = new EventTarget();
    vi.stubGlobal('addEventListener', win.addEventListener.bind(win));
    vi.stubGlobal('removeEventListener', win.removeEventListener.bind(win));
    const { server, authFetch } = await createHarness({ server: { accessTokenTtlSeconds: 3600 }, client: { wake: false } });
    await use(authFetch);
    vi.setSystemTime(Date.now() + 2 * HOUR);
    win.dispatchEvent(new Event('focus'));
    await vi.advanceTimersByTimeAsync(1);
    expect(server.stats.refreshCalls).toBe(0);
  });
});

describe('R6 with R8: a refresh cycle that gave up does not restart itself', () => {
  it('after the retries are exhausted past refreshAt, no further token call happens until something asks for a token', async () => {
    const win = new EventTarget();
    vi.stubGlobal('addEventListener', win.addEventListener.bind(win));
    vi.stubGlobal('removeEventListener', win.removeEventListener.bind(win));
    const { server, authFetch, api } = await createHarness({ server: { accessTokenTtlSeconds: 3600 } });
    await use(authFetch);
    server.fault({ type: 'unavailable' }, { type: 'unavailable' }, { type: 'unavailable' }, { type: 'unavailable' });
    // Past refreshAt (slept), the server is down: one cycle of four attempts, 1 s + 2 s + 4 s apart.
    vi.setSystemTime(Date.now() + HOUR - 10_000);
    win.dispatchEvent(new Event('focus'));
    await vi.advanceTimersByTimeAsync(7_100);
    expect(server.stats.refreshCalls).toBe(4);
    expect(authFetch.getStatus()).toMatchObject({ state: 'idle', status: 'authenticated', attempt: 0 });
    // Left alone, the session does not start cycle after cycle against a server that is down.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.stats.refreshCalls).toBe(4);
    // The next request that needs a token refreshes (the token is expired by now) and succeeds.
    const response = track(authFetch(api('/after-outage')));
    await vi.advanceTimersByTimeAsync(10);
    expect((response.value as Response).status).toBe(200);
    expect(server.stats.refreshCalls).toBe(5);
  });
});
