/**
 * DPoP on, against a server without DPoP support (RFC 9449 §5: it ignores the proof and
 * answers `token_type: Bearer`): the real rotating token server and its resource server on
 * 127.0.0.1. The tokens are recorded as Bearer, so the front ends send them as Bearer and
 * sign nothing; the herd is still one token call.
 */
import axios from 'axios';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSession, memoryDPoPKeys, memoryLock, memoryStore, type Session } from '../../adapters/index.js';
import { attachAuth } from '../../adapters/axios/index.js';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, startTestServers, type TestServers } from '../../adapters/testing/node.js';
import type { TokenServer } from '../../adapters/testing/index.js';

let server: TokenServer;
let servers: TestServers;

beforeEach(async () => {
  server = createTokenServer({ accessTokenTtlSeconds: 60 });
  servers = await startTestServers(server);
});
afterEach(async () => {
  await servers.close();
});

/** Every request's scheme and whether it carried a proof, as it left the client. */
function watchedFetch(seen: { scheme: string; proof: boolean }[]): typeof fetch {
  return (input, init) => {
    const headers = new Headers(input instanceof Request ? input.headers : init?.headers);
    if (init?.headers)
      new Headers(init.headers).forEach((value, name) => {
        headers.set(name, value);
      });
    seen.push({ scheme: (headers.get('authorization') ?? '').split(' ')[0]!, proof: headers.has('dpop') });
    return fetch(input, init);
  };
}

describe('DPoP on, against a server without DPoP support', () => {
  type Seen = { scheme: string; proof: boolean }[];
  /** A tab over `session`, whose requests are recorded in `seen` as they leave the client. */
  const frontEnds: [string, (session: Session, seen: Seen) => (url: string) => Promise<number>][] = [
    [
      'fetch',
      (session, seen) => {
        const authFetch = createAuthFetch({ session, allowedOrigins: [servers.apiOrigin], fetch: watchedFetch(seen) });
        return (url) => authFetch(url).then((r) => r.status);
      },
    ],
    [
      'axios',
      (session, seen) => {
        const http = axios.getAdapter('http');
        const instance = axios.create({
          adapter: (config) => {
            seen.push({ scheme: String(config.headers.get('authorization') ?? '').split(' ')[0]!, proof: config.headers.has('dpop') });
            return http(config);
          },
        });
        attachAuth(instance, { session, allowedOrigins: [servers.apiOrigin] });
        return (url) => instance.get(url).then((r) => r.status);
      },
    ],
  ];

  it.each(frontEnds)(
    '%s: 4 tabs × 10 requests after expiry make one token call; the new tokens are recorded Bearer and sent without a proof',
    async (_name, tab) => {
      const signedIn = server.login();
      const store = memoryStore({ accessToken: signedIn.access_token, refreshToken: signedIn.refresh_token });
      const lock = memoryLock();
      const keys = memoryDPoPKeys();
      const seen: Seen = [];
      const sessions: Session[] = [];
      const tabs = Array.from({ length: 4 }, () => {
        const session = createSession({ refresh: oauthRefresher({ tokenEndpoint: servers.tokenEndpoint, clientId: 'spa' }), store, lock, dpop: keys });
        sessions.push(session);
        return tab(session, seen);
      });
      try {
        server.expireAccessTokens();
        server.resetStats();
        const statuses = await Promise.all(tabs.flatMap((request, t) => Array.from({ length: 10 }, (_, i) => request(`${servers.api}/tab-${t}/${i}`))));
        expect(statuses).toEqual(Array(40).fill(200));
        // The nonce probe (the server answers it without a nonce, so it is never probed again) and one refresh.
        expect(server.calls.map((c) => c.outcome)).toEqual(['unknown', 'rotated']);
        expect(server.stats.reuseDetected).toBe(0);
        expect((await store.get())?.tokenType).toBe('Bearer');
        // Before the refresh the tokens had no recorded type: DPoP was tried (the server refused it).
        // The replays went as Bearer, with no proof.
        expect(seen.filter((s) => s.scheme === 'DPoP' && s.proof)).toHaveLength(40);
        expect(seen.filter((s) => s.scheme === 'Bearer' && !s.proof)).toHaveLength(40);
        expect(seen).toHaveLength(80);
      } finally {
        await Promise.all(sessions.map((s) => s.dispose()));
      }
    },
    30_000,
  );

  it('axios: tokens signed in as Bearer are sent as Bearer, never with a proof, with DPoP on', async () => {
    const signedIn = server.login();
    const session = createSession({
      refresh: oauthRefresher({ tokenEndpoint: servers.tokenEndpoint, clientId: 'spa' }),
      dpop: memoryDPoPKeys(),
      tokens: { accessToken: signedIn.access_token, refreshToken: signedIn.refresh_token, tokenType: signedIn.token_type },
    });
    try {
      const instance = axios.create();
      const sent: { authorization: unknown; dpop: unknown }[] = [];
      instance.interceptors.response.use((response) => {
        sent.push({ authorization: response.config.headers.get('authorization'), dpop: response.config.headers.get('dpop') });
        return response;
      });
      attachAuth(instance, { session, allowedOrigins: [servers.apiOrigin] });
      const statuses = await Promise.all(Array.from({ length: 5 }, (_, i) => instance.get(`${servers.api}/${i}`).then((r) => r.status)));
      expect(statuses).toEqual(Array(5).fill(200));
      expect(sent.map((s) => String(s.authorization).split(' ')[0])).toEqual(Array(5).fill('Bearer'));
      expect(sent.every((s) => s.dpop == null)).toBe(true);
      expect(server.stats.tokenCalls).toBe(0);
    } finally {
      await session.dispose();
    }
  });
});
