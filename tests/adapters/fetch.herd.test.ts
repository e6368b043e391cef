import { describe, expect, it, vi } from 'vitest';
import { createHarness, flush, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

describe('the herd', () => {
  it('50 concurrent 401s make exactly one token call and all 50 requests succeed', async () => {
    const { server, authFetch, api } = await createHarness();
    server.expireAccessTokens();
    const responses = Promise.all(Array.from({ length: 50 }, (_, i) => authFetch(api(`/items/${i}`))));
    await vi.advanceTimersByTimeAsync(500);
    const results = await responses;
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(server.stats.refreshCalls).toBe(1);
    expect(server.calls.map((c) => c.outcome)).toEqual(['rotated']);
    expect(authFetch.getStatus()).toMatchObject({ state: 'idle', queued: 0, attempt: 0 });
  });

  it('the session survives the herd: the stored refresh token is the live one', async () => {
    const { server, authFetch, api } = await createHarness();
    server.expireAccessTokens();
    const all = Promise.all(Array.from({ length: 20 }, () => authFetch(api('/me'))));
    await vi.advanceTimersByTimeAsync(500);
    await all;
    const stored = authFetch.session.actor.getSnapshot().context;
    expect(stored.tokenVersion).toBe(2);
    const live = server.calls.at(-1);
    expect(live?.outcome).toBe('rotated');
    // One more refresh with what the client holds works.
    const next = track(authFetch.refresh());
    await vi.advanceTimersByTimeAsync(10);
    expect(next.error).toBeUndefined();
    expect(next.settled).toBe(true);
    expect(server.calls.map((c) => c.outcome)).toEqual(['rotated', 'rotated']);
  });

  it('a 401 that arrives while the refresh is running is queued and replayed, not rejected', async () => {
    const { server, authFetch, api } = await createHarness();
    server.expireAccessTokens();
    server.fault({ type: 'delay', ms: 300 });
    const first = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(150); // debounce over: refreshing
    expect(authFetch.getStatus().state).toBe('refreshing');
    const late = track(authFetch(api('/b')));
    await vi.advanceTimersByTimeAsync(10);
    expect(authFetch.getStatus().state).toBe('refreshing');
    await vi.advanceTimersByTimeAsync(400);
    expect((first.value as Response).status).toBe(200);
    expect((late.value as Response).status).toBe(200);
    expect(server.stats.refreshCalls).toBe(1);
  });

  it('requests started during a refresh wait for it instead of sending the expired token', async () => {
    const { server, authFetch, api } = await createHarness();
    server.expireAccessTokens();
    server.fault({ type: 'delay', ms: 300 });
    const first = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(150);
    const before = server.stats.resourceUnauthorized;
    const during = track(authFetch(api('/b')));
    await vi.advanceTimersByTimeAsync(400);
    expect(server.stats.resourceUnauthorized).toBe(before);
    expect((during.value as Response).status).toBe(200);
    expect((first.value as Response).status).toBe(200);
  });

  it('a token known to be expired is refreshed before the request is sent', async () => {
    const { server, authFetch, api } = await createHarness();
    vi.setSystemTime(Date.now() + 61_000);
    const results = Promise.all([authFetch(api('/a')), authFetch(api('/b')), authFetch.getAccessToken()]);
    await vi.advanceTimersByTimeAsync(10);
    const [a, b, token] = await results;
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(typeof token).toBe('string');
    expect(server.stats.resourceUnauthorized).toBe(0);
    expect(server.stats.refreshCalls).toBe(1);
    await flush();
  });
});
