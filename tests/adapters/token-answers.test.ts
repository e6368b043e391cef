/**
 * What a token endpoint's failed answer becomes (issue 11, items 6 and 7): a 4xx without a
 * JSON body is permanent like every other 4xx (RFC 6749 §5.2), and a server's error code
 * that could carry a secret never reaches errors, status, events or logs.
 */
import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { createSession, RefreshError, type LogEntry } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { testUrls } from '../../adapters/testing/index.js';
import { mock, useMockNetwork } from '../support/harness.js';

useMockNetwork();

const refresher = () => oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'spa' });
const signal = () => new AbortController().signal;

describe('a 4xx answer without a JSON body is permanent (R5)', () => {
  const answers: [string, () => Response][] = [
    ['401 with an empty body', () => new HttpResponse(null, { status: 401 })],
    ['400 with an HTML page', () => new HttpResponse('<html><body>Bad Request</body></html>', { status: 400, headers: { 'content-type': 'text/html' } })],
    ['403 from a proxy, as HTML', () => new HttpResponse('<h1>Forbidden</h1>', { status: 403, headers: { 'content-type': 'text/html' } })],
    ['400 with JSON that is not an OAuth error', () => HttpResponse.json({ message: 'nope' }, { status: 400 })],
  ];
  it.each(answers)('%s', async (_name, answer) => {
    mock.use(http.post(testUrls.tokenEndpoint, () => answer()));
    const status = answer().status;
    const error = await refresher()('rt_1', { signal: signal() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RefreshError);
    expect(error).toMatchObject({ kind: 'permanent', status, reason: `HTTP_${status}` });
  });

  it('a 5xx or 429 without a body stays transient', async () => {
    for (const status of [429, 500, 502, 503]) {
      mock.use(http.post(testUrls.tokenEndpoint, () => new HttpResponse('<html>busy</html>', { status, headers: { 'content-type': 'text/html' } })));
      const error = await refresher()('rt_1', { signal: signal() }).catch((e: unknown) => e);
      expect(error).toMatchObject({ kind: 'transient', status });
    }
  });
});

describe("a server's error code is kept only when it cannot be a secret", () => {
  const SECRET = 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXJlZnJlc2gtdG9rZW4tdmFsdWU.c2lnbmF0dXJlLXZhbHVl';
  const codes: [string, string, string][] = [
    ['a plain code', 'invalid_grant', 'invalid_grant'],
    ['a code with a token after it', `invalid_grant:${SECRET}`, 'HTTP_400'],
    ['a JWT as the code', SECRET, 'HTTP_400'],
    ['a long opaque value', `rt_${'x'.repeat(60)}`, 'HTTP_400'],
    ['a word with a token-long segment', `invalid_${'a1b2c3d4e5'.repeat(3)}`, 'HTTP_400'],
  ];
  it.each(codes)('%s', async (_name, code, reason) => {
    mock.use(http.post(testUrls.tokenEndpoint, () => HttpResponse.json({ error: code, error_description: `about ${SECRET}` }, { status: 400 })));
    const error = await refresher()('rt_1', { signal: signal() }).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'permanent', status: 400, reason });
  });

  it('nothing of it reaches getStatus(), the events, the logger or the printed error', async () => {
    mock.use(http.post(testUrls.tokenEndpoint, () => HttpResponse.json({ error: `invalid_grant:${SECRET}` }, { status: 400 })));
    const logged: LogEntry[] = [];
    const events: unknown[] = [];
    const session = createSession({ refresh: refresher(), tokens: { accessToken: 'at_1', refreshToken: 'rt_1' }, logger: (entry) => logged.push(entry) });
    session.on('refreshFailed', (event) => events.push(event));
    let outcome: unknown;
    session.refresh().catch((e: unknown) => (outcome = e));
    // Three permanent failures, with backoff between them, then logout.
    await vi.advanceTimersByTimeAsync(30_000);
    expect(outcome).toBeDefined();
    const printed = [
      JSON.stringify(session.getStatus()),
      JSON.stringify(logged),
      JSON.stringify(events),
      String(outcome),
      JSON.stringify(outcome),
      (outcome as Error)?.stack ?? '',
    ];
    const { inspect } = await import('node:util');
    printed.push(inspect(outcome, { depth: 10 }), inspect(session.getStatus(), { depth: 10 }));
    for (const text of printed) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('c2VjcmV0');
    }
    expect(session.getStatus().lastError).toMatchObject({ kind: 'permanent', reason: 'HTTP_400', status: 400 });
    await session.dispose();
  });
});
