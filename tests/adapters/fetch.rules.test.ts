import { delay, http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, isAuthchartError, memoryStore, type LogEntry } from '../../adapters/index.js';
import { resourceReply } from '../../adapters/testing/index.js';
import { createHarness, mock, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

/** Collect the logger's entries with the (fake) time they happened at. */
function recorder() {
  const start = Date.now();
  const entries: (LogEntry & { t: number })[] = [];
  return { logger: (entry: LogEntry) => entries.push({ ...entry, t: Date.now() - start }), entries };
}

const refreshStarts = (entries: (LogEntry & { t: number })[]) => entries.filter((e) => e.type === 'refresh.start').map((e) => e.t);

describe('R3: stale 401s', () => {
  it('a 401 for a request sent with an older token is replayed at once, without a refresh', async () => {
    const log = recorder();
    const { server, authFetch, api } = await createHarness({ client: { logger: log.logger } });
    // /slow answers after 1 s, checking the token only then.
    mock.use(
      http.get(api('/slow'), async ({ request }) => {
        await delay(1000);
        const check = server.authenticate(request.headers.get('authorization'));
        const reply = resourceReply(check, { method: 'GET', path: '/api/slow' });
        if (reply.kind !== 'json') throw new Error('unexpected reply');
        return HttpResponse.json(reply.body, { status: reply.status, headers: reply.headers });
      }),
    );
    server.expireAccessTokens();
    const slow = track(authFetch(api('/slow')));
    const fast = track(authFetch(api('/fast')));
    await vi.advanceTimersByTimeAsync(200);
    expect((fast.value as Response).status).toBe(200);
    expect(server.stats.refreshCalls).toBe(1);
    // /slow's 401 arrives at 1 s; its replay takes 1 s more.
    await vi.advanceTimersByTimeAsync(2000);
    expect((slow.value as Response).status).toBe(200);
    expect(server.stats.refreshCalls).toBe(1);
    // After the refresh the machine never left idle again.
    const states = log.entries.filter((e) => e.type === 'state').map((e) => (e as { to: string }).to);
    expect(states).toEqual(['debouncing', 'refreshing', 'idle']);
  });
});

describe('R2: debounce', () => {
  it('401s inside the window join one batch, and the window is not extended by them', async () => {
    const log = recorder();
    const { server, authFetch, api } = await createHarness({ client: { logger: log.logger } });
    server.expireAccessTokens();
    const requests = [track(authFetch(api('/0')))];
    for (const step of [30, 30, 30]) {
      await vi.advanceTimersByTimeAsync(step);
      requests.push(track(authFetch(api(`/${step}`))));
    }
    // 90 ms in: still gathering.
    expect(authFetch.getStatus()).toMatchObject({ state: 'debouncing', queued: 4 });
    await vi.advanceTimersByTimeAsync(50);
    expect(refreshStarts(log.entries)).toEqual([100]);
    expect(requests.every((r) => (r.value as Response | undefined)?.status === 200)).toBe(true);
    expect(server.stats.refreshCalls).toBe(1);
  });

  it('a window of 0 is allowed: the refresh starts on the next tick', async () => {
    const log = recorder();
    const { server, authFetch, api } = await createHarness({ client: { logger: log.logger, debounceMs: 0 } });
    server.expireAccessTokens();
    const all = Promise.all([authFetch(api('/a')), authFetch(api('/b'))]);
    await vi.advanceTimersByTimeAsync(1);
    expect((await all).map((r) => r.status)).toEqual([200, 200]);
    expect(refreshStarts(log.entries)).toEqual([0]);
    expect(server.stats.refreshCalls).toBe(1);
  });
});

describe('R5 and R6: backoff, classification, logout', () => {
  it('backoff waits 1 s, 2 s, 4 s, then rejects the queue with REFRESH_UNAVAILABLE and keeps the session', async () => {
    const log = recorder();
    const { server, authFetch, api } = await createHarness({ client: { logger: log.logger, maxWaitMs: 60_000 } });
    server.expireAccessTokens();
    server.fault({ type: 'unavailable' }, { type: 'reset' }, { type: 'unavailable' }, { type: 'unavailable' });
    const request = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(1099);
    expect(refreshStarts(log.entries)).toEqual([100]);
    expect(authFetch.getStatus()).toMatchObject({ state: 'backoff', attempt: 1 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(refreshStarts(log.entries)).toEqual([100, 1100, 3100, 7100]);
    expect(isAuthchartError(request.error, ErrorCode.REFRESH_UNAVAILABLE)).toBe(true);
    expect(authFetch.getStatus()).toMatchObject({ state: 'idle', status: 'authenticated', hasRefreshToken: true, attempt: 0 });
    // The server recovers: the next request refreshes and succeeds with the same session.
    const again = track(authFetch(api('/b')));
    await vi.advanceTimersByTimeAsync(200);
    expect((again.value as Response).status).toBe(200);
    expect(server.calls.map((c) => c.outcome)).toEqual(['fault:unavailable', 'fault:reset', 'fault:unavailable', 'fault:unavailable', 'rotated']);
  });

  it('honours Retry-After from a 429', async () => {
    const log = recorder();
    const { server, authFetch, api } = await createHarness({ client: { logger: log.logger } });
    server.expireAccessTokens();
    server.fault({ type: 'rateLimited', retryAfterSeconds: 3 });
    const request = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(3200);
    expect(refreshStarts(log.entries)).toEqual([100, 3100]);
    expect((request.value as Response).status).toBe(200);
  });

  it('logs out after exactly three consecutive permanent failures', async () => {
    const { server, authFetch, api } = await createHarness();
    const loggedOut = vi.fn();
    authFetch.on('loggedOut', loggedOut);
    server.expireAccessTokens();
    server.fault({ type: 'invalidGrant' }, { type: 'invalidGrant' }, { type: 'invalidGrant' });
    const request = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(3099);
    expect(authFetch.getStatus().state).toBe('backoff');
    expect(loggedOut).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(10);
    expect(server.stats.refreshCalls).toBe(3);
    expect(authFetch.getStatus()).toMatchObject({ state: 'loggedOut', loggedOutReason: 'permanentFailures', hasRefreshToken: false });
    expect(loggedOut).toHaveBeenCalledExactlyOnceWith({ reason: 'permanentFailures' });
    expect(isAuthchartError(request.error, ErrorCode.SESSION_EXPIRED)).toBe(true);
  });

  it('does not log out after two permanent failures: the third try succeeds', async () => {
    const { server, authFetch, api } = await createHarness();
    server.expireAccessTokens();
    server.fault({ type: 'invalidGrant' }, { type: 'invalidGrant' });
    const request = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(3200);
    expect((request.value as Response).status).toBe(200);
    expect(authFetch.getStatus()).toMatchObject({ state: 'idle', permanentFailures: 0, attempt: 0 });
    expect(server.calls.map((c) => c.outcome)).toEqual(['fault:invalidGrant', 'fault:invalidGrant', 'rotated']);
  });

  it('a success resets the count: two failures, success, two failures again do not log out', async () => {
    const { server, authFetch, api } = await createHarness();
    for (let round = 0; round < 2; round++) {
      server.expireAccessTokens();
      server.fault({ type: 'invalidGrant' }, { type: 'invalidGrant' });
      const request = track(authFetch(api(`/round-${round}`)));
      await vi.advanceTimersByTimeAsync(3200);
      expect((request.value as Response).status).toBe(200);
    }
    expect(authFetch.getStatus().status).toBe('authenticated');
    expect(server.stats.refreshCalls).toBe(6);
  });

  it('a transient failure between permanent ones breaks the run', async () => {
    const { server, authFetch, api } = await createHarness({ client: { maxWaitMs: 60_000 } });
    server.expireAccessTokens();
    server.fault({ type: 'invalidGrant' }, { type: 'invalidGrant' }, { type: 'unavailable' }, { type: 'invalidGrant' });
    const request = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(isAuthchartError(request.error, ErrorCode.REFRESH_UNAVAILABLE)).toBe(true);
    expect(authFetch.getStatus().status).toBe('authenticated');
  });

  it('before counting a permanent failure, adopts a refresh token someone else rotated meanwhile', async () => {
    // A store with no change notifications, so only the re-read can find the other token.
    const inner = memoryStore();
    const sharedStore = { get: inner.get, set: inner.set, clear: inner.clear };
    const { server, authFetch, api } = await createHarness({ client: { store: sharedStore } });
    const store = authFetch.session;
    // Another instance rotates the token right after ours was sent: our call gets invalid_grant.
    mock.use(
      http.post('https://auth.authchart.test/oauth/token', async () => {
        const other = server.login();
        const held = authFetch.getStatus();
        expect(held.state).toBe('refreshing');
        await sharedStore.set({ accessToken: other.access_token, refreshToken: other.refresh_token, expiresAt: Date.now() + 60_000 });
        return Response.json({ error: 'invalid_grant' }, { status: 400 });
      }),
    );
    server.expireAccessTokens();
    const request = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(200);
    expect((request.value as Response).status).toBe(200);
    expect(store.getStatus()).toMatchObject({ state: 'idle', permanentFailures: 0, lastRefresh: { outcome: 'ok', source: 'store' } });
  });
});
