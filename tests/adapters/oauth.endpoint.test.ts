/**
 * A relative `tokenEndpoint`: resolved against the page in a browser, refused with
 * INVALID_OPTIONS elsewhere (there is no page to resolve it against).
 */
import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, isAuthchartError } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { mock, useMockNetwork } from '../support/harness.js';

useMockNetwork();

const signal = () => new AbortController().signal;

function captureAt(url: string) {
  const seen: URL[] = [];
  mock.use(
    http.post(url, ({ request }) => {
      seen.push(new URL(request.url));
      return HttpResponse.json({ access_token: 'at_new', token_type: 'Bearer', expires_in: 300, refresh_token: 'rt_new' });
    }),
  );
  return seen;
}

describe('tokenEndpoint', () => {
  it.each(['/oauth/token', 'oauth/token', '//auth.example.test/token'])(
    'outside a browser, a relative one (%s) is refused at construction with INVALID_OPTIONS naming the option',
    (relative) => {
      vi.stubGlobal('location', undefined);
      let error: unknown;
      try {
        oauthRefresher({ tokenEndpoint: relative, clientId: 'spa' });
      } catch (caught) {
        error = caught;
      }
      expect(isAuthchartError(error, ErrorCode.INVALID_OPTIONS)).toBe(true);
      expect((error as Error).message).toMatch(/^\[authchart\] .*tokenEndpoint .*absolute URL/);
    },
  );

  it('in a browser, "/oauth/token" goes to the page\'s origin', async () => {
    vi.stubGlobal('location', { href: 'https://app.example.test/dashboard/settings?tab=1' });
    const seen = captureAt('https://app.example.test/oauth/token');
    const result = await oauthRefresher({ tokenEndpoint: '/oauth/token', clientId: 'spa' })('rt_old', { signal: signal() });
    expect(result.accessToken).toBe('at_new');
    expect(seen.map(String)).toEqual(['https://app.example.test/oauth/token']);
  });

  it('in a browser, a path-relative one is resolved once, against the page where oauthRefresher was called', async () => {
    const page = { href: 'https://app.example.test/app/start' };
    vi.stubGlobal('location', page);
    const seen = captureAt('https://app.example.test/app/oauth/token');
    const refresh = oauthRefresher({ tokenEndpoint: 'oauth/token', clientId: 'spa' });
    // The app navigates (client-side routing): the endpoint does not move with it.
    page.href = 'https://app.example.test/elsewhere/deep/page';
    await refresh('rt_old', { signal: signal() });
    expect(seen.map(String)).toEqual(['https://app.example.test/app/oauth/token']);
  });

  it('in a browser served over plain http from a non-loopback host, the resolved endpoint is still refused as insecure', async () => {
    vi.stubGlobal('location', { href: 'http://intranet.example.test/' });
    const error = await oauthRefresher({ tokenEndpoint: '/oauth/token', clientId: 'spa' })('rt', { signal: signal() }).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'permanent', reason: 'INSECURE_ENDPOINT' });
  });

  it('an absolute one is used as given, whatever the page', async () => {
    vi.stubGlobal('location', { href: 'https://app.example.test/' });
    const seen = captureAt('https://auth.example.test/token');
    await oauthRefresher({ tokenEndpoint: 'https://auth.example.test/token', clientId: 'spa' })('rt', { signal: signal() });
    expect(seen.map(String)).toEqual(['https://auth.example.test/token']);
  });
});
