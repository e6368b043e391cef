import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, isAuthchartError } from '../../adapters/index.js';
import { createHarness, mock, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

describe('R4: the queue', () => {
  it('logout() rejects every queued request with SESSION_EXPIRED, and later requests are not sent', async () => {
    const { server, authFetch, api } = await createHarness();
    server.expireAccessTokens();
    server.fault({ type: 'delay', ms: 1000 });
    const queued = Array.from({ length: 5 }, (_, i) => track(authFetch(api(`/${i}`))));
    await vi.advanceTimersByTimeAsync(200);
    expect(authFetch.getStatus()).toMatchObject({ state: 'refreshing', queued: 5 });
    await authFetch.logout();
    await vi.advanceTimersByTimeAsync(0);
    expect(queued.every((q) => isAuthchartError(q.error, ErrorCode.SESSION_EXPIRED))).toBe(true);
    const sentBefore = server.stats.resourceCalls;
    await expect(authFetch(api('/after'))).rejects.toMatchObject({ code: ErrorCode.SESSION_EXPIRED });
    expect(server.stats.resourceCalls).toBe(sentBefore);
    // The refresh that was in flight lands after logout: it must not revive the session.
    await vi.advanceTimersByTimeAsync(2000);
    expect(authFetch.getStatus()).toMatchObject({ state: 'loggedOut', hasRefreshToken: false, queued: 0 });
  });

  it('login() after logout starts a new session', async () => {
    const { server, authFetch, api } = await createHarness();
    await authFetch.logout();
    const fresh = server.login();
    await authFetch.login({ accessToken: fresh.access_token, refreshToken: fresh.refresh_token });
    const response = await authFetch(api('/me'));
    expect(response.status).toBe(200);
    expect(authFetch.getStatus().status).toBe('authenticated');
  });

  it('an aborted request leaves the queue at once; the others are released', async () => {
    const { server, authFetch, api } = await createHarness();
    server.expireAccessTokens();
    const controller = new AbortController();
    const aborted = track(authFetch(api('/a'), { signal: controller.signal }));
    const kept = track(authFetch(api('/b')));
    await vi.advanceTimersByTimeAsync(20);
    expect(authFetch.getStatus()).toMatchObject({ state: 'debouncing', queued: 2 });
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect((aborted.error as Error).name).toBe('AbortError');
    expect(authFetch.getStatus()).toMatchObject({ queued: 1 });
    expect(authFetch.session.actor.getSnapshot().context.queued).toBe(1);
    await vi.advanceTimersByTimeAsync(200);
    expect((kept.value as Response).status).toBe(200);
    expect(server.stats.resourceCalls).toBe(3); // a, b, and b's replay: a was never replayed
  });

  it('a verdict that throws on the replay rejects the request with its error', async () => {
    let verdicts = 0;
    const isUnauthorized = (response: Response) => {
      if (++verdicts > 1) throw new Error('verdict failed');
      return response.status === 401;
    };
    const { server, authFetch, api } = await createHarness({ client: { isUnauthorized } });
    server.expireAccessTokens();
    const request = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(500);
    expect(verdicts).toBe(2);
    expect((request.error as Error).message).toBe('verdict failed');
  });

  it('a request that waits longer than maxWaitMs fails with QUEUE_TIMEOUT', async () => {
    const { server, authFetch, api } = await createHarness({ client: { maxWaitMs: 500 } });
    server.expireAccessTokens();
    server.fault({ type: 'delay', ms: 2000 });
    const request = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(499);
    expect(request.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(2);
    expect(isAuthchartError(request.error, ErrorCode.QUEUE_TIMEOUT)).toBe(true);
    expect(authFetch.getStatus().queued).toBe(0);
    // The refresh still completes for whoever comes next.
    await vi.advanceTimersByTimeAsync(2000);
    expect(authFetch.getStatus()).toMatchObject({ state: 'idle', lastRefresh: { outcome: 'ok' } });
  });

  it('dispose() rejects what waits with DISPOSED and stops the refresh', async () => {
    const { server, authFetch, api } = await createHarness();
    server.expireAccessTokens();
    server.fault({ type: 'delay', ms: 1000 });
    const request = track(authFetch(api('/a')));
    await vi.advanceTimersByTimeAsync(200);
    await authFetch.dispose();
    await vi.advanceTimersByTimeAsync(0);
    expect(isAuthchartError(request.error, ErrorCode.DISPOSED)).toBe(true);
    await expect(authFetch(api('/b'))).rejects.toMatchObject({ code: ErrorCode.DISPOSED });
  });
});

describe('R7: replay once', () => {
  it('a replayed request that gets 401 again fails with UNAUTHORIZED_AFTER_REFRESH and never loops', async () => {
    const { server, authFetch, api } = await createHarness();
    let hits = 0;
    mock.use(
      http.get(api('/forbidden-forever'), () => {
        hits++;
        return HttpResponse.json({ error: 'invalid_token' }, { status: 401 });
      }),
    );
    const request = track(authFetch(api('/forbidden-forever')));
    await vi.advanceTimersByTimeAsync(5000);
    expect(isAuthchartError(request.error, ErrorCode.UNAUTHORIZED_AFTER_REFRESH)).toBe(true);
    expect(hits).toBe(2);
    expect(server.stats.refreshCalls).toBe(1);
    expect(authFetch.getStatus().state).toBe('idle');
  });
});

describe('replayable bodies', () => {
  const echo = async (init: RequestInit | Request, authFetch: (i: RequestInfo, init?: RequestInit) => Promise<Response>, url: string) => {
    const response = init instanceof Request ? await authFetch(init) : await authFetch(url, init);
    return (await response.json()) as { body?: string };
  };

  const cases: [string, () => RequestInit, (body: string) => void][] = [
    [
      'JSON string',
      () => ({ method: 'POST', body: JSON.stringify({ amount: 42, note: 'é' }), headers: { 'content-type': 'application/json' } }),
      (b) => expect(JSON.parse(b)).toEqual({ amount: 42, note: 'é' }),
    ],
    ['text', () => ({ method: 'PUT', body: 'plain text body' }), (b) => expect(b).toBe('plain text body')],
    ['URLSearchParams', () => ({ method: 'POST', body: new URLSearchParams({ a: '1', b: 'two' }) }), (b) => expect(b).toBe('a=1&b=two')],
    ['Blob', () => ({ method: 'POST', body: new Blob(['blob-bytes']) }), (b) => expect(b).toBe('blob-bytes')],
    ['ArrayBuffer', () => ({ method: 'POST', body: new TextEncoder().encode('buffer-bytes').buffer as ArrayBuffer }), (b) => expect(b).toBe('buffer-bytes')],
    [
      'FormData',
      () => {
        const form = new FormData();
        form.set('field', 'value-1');
        form.set('file', new Blob(['file-content']), 'a.txt');
        return { method: 'POST', body: form };
      },
      (b) => {
        expect(b).toContain('value-1');
        expect(b).toContain('file-content');
      },
    ],
  ];

  for (const [name, makeInit, check] of cases) {
    it(`a ${name} body arrives intact on the replay`, async () => {
      const { server, authFetch, api } = await createHarness();
      server.expireAccessTokens();
      const result = track(echo(makeInit(), authFetch, api('/echo')));
      await vi.advanceTimersByTimeAsync(200);
      expect(result.error).toBeUndefined();
      check((result.value as { body: string }).body);
      expect(server.stats.resourceUnauthorized).toBe(1);
    });
  }

  it('a Request object with a body (as ky and openapi-fetch send) arrives intact on the replay', async () => {
    const { server, authFetch, api } = await createHarness();
    server.expireAccessTokens();
    const request = new Request(api('/echo'), { method: 'POST', body: JSON.stringify({ id: 7 }), headers: { 'x-trace': 'abc' } });
    const result = track(echo(request, authFetch, api('/echo')));
    await vi.advanceTimersByTimeAsync(200);
    expect(JSON.parse((result.value as { body: string }).body)).toEqual({ id: 7 });
  });

  it('a one-shot stream body fails with NON_REPLAYABLE_BODY instead of being replayed empty, and still starts the refresh', async () => {
    const { server, authFetch, api } = await createHarness();
    server.expireAccessTokens();
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    });
    const result = track(authFetch(api('/echo'), { method: 'POST', body: stream, duplex: 'half' } as RequestInit));
    await vi.advanceTimersByTimeAsync(200);
    expect(isAuthchartError(result.error, ErrorCode.NON_REPLAYABLE_BODY)).toBe(true);
    expect(server.stats.refreshCalls).toBe(1);
    expect(server.stats.resourceCalls).toBe(1);
  });
});
