/**
 * DPoP on requests (RFC 9449 §7) through the fetch and axios front ends, end to end in Node:
 * oidc-provider with DPoP on and nonces required, and two resource servers (two origins)
 * that check every proof (signature with the header's JWK, `htm`, `htu` without query,
 * `iat`, `jti` never seen before, `ath` of the token), require a nonce of their own, and
 * check the token's binding to the proof's key (introspection's `cnf.jkt`).
 *
 * Real servers, real time: margins are generous, every wait is bounded.
 */
import axios, { type AxiosInstance } from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSession,
  memoryDPoPKeys,
  memoryLock,
  memoryStore,
  RefreshError,
  type DPoPKeyStore,
  type LogEntry,
  type Session,
  type TokenStore,
} from '../../adapters/index.js';
import { attachAuth } from '../../adapters/axios/index.js';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { keyThumbprint } from '../support/dpop-proof.js';
import { startOidcProvider, type OidcFixture } from '../support/oidc-provider.js';
import { startResourceServer, type ResourceServer } from '../support/resource-server.js';

const TABS = 4;
const REQUESTS_PER_TAB = 10;

let idp: OidcFixture;
let apiA: ResourceServer;
let apiB: ResourceServer;

beforeAll(async () => {
  idp = await startOidcProvider({ dpop: { requireNonce: true } });
  [apiA, apiB] = await Promise.all([
    startResourceServer(idp, { dpop: true, requireNonce: true }),
    startResourceServer(idp, { dpop: true, requireNonce: true }),
  ]);
});

afterAll(async () => {
  await Promise.all([apiA?.close(), apiB?.close()]);
  await idp?.close();
});

/** One request's outcome: the status, or the error's code. */
type Outcome = number | string;

/** A tab (a session and its front end): send a request, get its outcome. */
interface Client {
  request(url: string, init?: { method?: string; body?: string }): Promise<Outcome>;
}

type FrontEnd = (session: Session, allowedOrigins: string[]) => Client;

const axiosClient =
  (adapter?: 'fetch'): FrontEnd =>
  (session, allowedOrigins) => {
    const instance: AxiosInstance = axios.create(adapter ? { adapter } : {});
    attachAuth(instance, { session, allowedOrigins });
    return {
      request: (url, init) =>
        instance.request({ url, method: init?.method ?? 'GET', data: init?.body }).then(
          (response) => response.status,
          (error: { response?: { status: number }; code?: string }) => error.response?.status ?? error.code ?? String(error),
        ),
    };
  };

const frontEnds: [string, FrontEnd][] = [
  [
    'fetch',
    (session, allowedOrigins) => {
      const authFetch = createAuthFetch({ session, allowedOrigins });
      return {
        request: (url, init) =>
          authFetch(url, init).then(
            async (response) => {
              await response.text();
              return response.status;
            },
            (error: { code?: string }) => error.code ?? String(error),
          ),
      };
    },
  ],
  ['axios (http adapter)', axiosClient()],
  ['axios (fetch adapter)', axiosClient('fetch')],
];

/** Until the provider itself says the access token is no longer active (bounded). */
async function expired(accessToken: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await idp.introspect(accessToken)).active) {
    if (Date.now() > deadline) throw new Error('the access token was still active after 10 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Tabs {
  clients: Client[];
  sessions: Session[];
  store: TokenStore;
  keys: DPoPKeyStore;
  logs: LogEntry[][];
  dispose(): Promise<void>;
}

/**
 * Sign in with a new key (rotated, as a sign-in starts), and open `count` tabs on one store,
 * lock and key store. The stored tokens carry no expiry: the tabs learn that the token
 * expired from the resource servers' 401s, as after a laptop wakes up.
 */
async function signedInTabs(frontEnd: FrontEnd, options: { count?: number; accessTokenTtlSeconds?: number; waitForExpiry?: boolean } = {}): Promise<Tabs> {
  const keys = memoryDPoPKeys();
  const signedIn = await idp.signIn({ dpop: await keys.rotate(), accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 300 });
  expect(signedIn.tokenType).toBe('dpop');
  if (options.waitForExpiry) await expired(signedIn.accessToken);
  const store = memoryStore({ accessToken: signedIn.accessToken, refreshToken: signedIn.refreshToken, tokenType: signedIn.tokenType });
  const lock = memoryLock();
  const logs: LogEntry[][] = [];
  const sessions: Session[] = [];
  const clients = Array.from({ length: options.count ?? TABS }, () => {
    const log: LogEntry[] = [];
    logs.push(log);
    // Each tab builds its own refresher and session, as each tab of a browser would.
    const session = createSession({
      refresh: oauthRefresher({ tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId }),
      store,
      lock,
      dpop: keys,
      logger: (entry) => log.push(entry),
    });
    sessions.push(session);
    return frontEnd(session, [apiA.origin, apiB.origin]);
  });
  idp.resetCounters();
  apiA.resetStats();
  apiB.resetStats();
  return { clients, sessions, store, keys, logs, dispose: async () => void (await Promise.all(sessions.map((s) => s.dispose()))) };
}

const presentedRefreshTokens = () => idp.calls.filter((c) => c.grantType === 'refresh_token' && c.refreshToken !== 'authchart-dpop-nonce-probe');
const refreshesStarted = (tabs: Tabs) => tabs.logs.flat().filter((e) => e.type === 'refresh.start').length;
const statesEntered = (tabs: Tabs) => tabs.logs.flat().flatMap((e) => (e.type === 'state' ? [e.to] : []));

describe.each(frontEnds)('DPoP requests through %s', (name, frontEnd) => {
  it('4 tabs × 10 requests to two origins after expiry: one refresh, 40 of 40 succeed, every proof verified, all bound to the one key', async () => {
    const tabs = await signedInTabs(frontEnd, { accessTokenTtlSeconds: 1, waitForExpiry: true });
    try {
      const outcomes = await Promise.all(
        tabs.clients.flatMap((client, t) =>
          Array.from({ length: REQUESTS_PER_TAB }, (_, i) => {
            const api = i % 2 === 0 ? apiA : apiB;
            // Half GET with a query, half PUT with a body: htm and htu are what is sent.
            return i % 4 < 2
              ? client.request(`${api.api}/tab-${t}/item-${i}?page=${i}&sort=asc`)
              : client.request(`${api.api}/tab-${t}/item-${i}`, { method: 'PUT', body: `{"i":${i}}` });
          }),
        ),
      );
      const accepted = [...apiA.stats.accepted, ...apiB.stats.accepted];
      const keyPair = await tabs.keys.getOrCreate();
      const figures = {
        tokenCalls: idp.counters.tokenCalls,
        refreshTokenPresented: presentedRefreshTokens().length,
        useDpopNonceAtTokenEndpoint: idp.counters.useDpopNonce,
        reuseDetected: idp.counters.reuseDetected,
        requests: outcomes.length,
        ok: outcomes.filter((o) => o === 200).length,
        resourceCalls: apiA.stats.requests + apiB.stats.requests,
        nonceRetries: apiA.stats.nonceChallenges + apiB.stats.nonceChallenges,
        proofRefusals: [...apiA.stats.refusals, ...apiB.stats.refusals].filter((r) => r !== 'token not active'),
        refreshesStarted: refreshesStarted(tabs),
      };
      console.info(`[e2e] DPoP requests herd (${name}):`, JSON.stringify(figures));
      expect(outcomes).toEqual(Array(TABS * REQUESTS_PER_TAB).fill(200));
      expect(figures).toMatchObject({ refreshTokenPresented: 1, reuseDetected: 0, proofRefusals: [] });
      // One call learns the token endpoint's nonce (it presents no refresh token), one refreshes.
      expect(figures.tokenCalls).toBe(2);
      // Every request was challenged at most once for a nonce (none was known at first).
      expect(figures.nonceRetries).toBeLessThanOrEqual(TABS * REQUESTS_PER_TAB);
      // Each accepted request carried its own proof, signed with the one key the token is bound to.
      expect(accepted).toHaveLength(TABS * REQUESTS_PER_TAB);
      expect(new Set(accepted.map((p) => p.jti)).size).toBe(accepted.length);
      expect(new Set(accepted.map((p) => p.jkt))).toEqual(new Set([await keyThumbprint(keyPair)]));
      const puts = Array.from({ length: REQUESTS_PER_TAB }, (_, i) => i).filter((i) => i % 4 >= 2).length;
      expect(accepted.filter((p) => p.method === 'PUT')).toHaveLength(TABS * puts);
      // Each origin's own nonce, on every accepted proof.
      expect(new Set(apiA.stats.accepted.map((p) => p.nonce))).toEqual(new Set([apiA.nonce]));
      expect(new Set(apiB.stats.accepted.map((p) => p.nonce))).toEqual(new Set([apiB.nonce]));
      const token = await tabs.sessions[2]!.getAccessToken();
      expect((await idp.introspect(token)).cnf?.jkt).toBe(await keyThumbprint(keyPair));
    } finally {
      await tabs.dispose();
    }
  }, 45_000);

  it('a resource server that asks for a new nonce gets the request once more with it, without a token call or a refresh', async () => {
    const tabs = await signedInTabs(frontEnd, { count: 1 });
    try {
      const [client] = tabs.clients;
      expect(await client!.request(`${apiA.api}/warm-up`)).toBe(200);
      const before = { calls: apiA.stats.requests, challenges: apiA.stats.nonceChallenges, accepted: apiA.stats.accepted.length };
      const old = apiA.nonce;
      const rotated = apiA.rotateNonce();
      expect(await client!.request(`${apiA.api}/after-rotation`)).toBe(200);
      expect(apiA.stats.requests - before.calls).toBe(2);
      expect(apiA.stats.nonceChallenges - before.challenges).toBe(1);
      expect(apiA.stats.accepted.slice(before.accepted).map((p) => p.nonce)).toEqual([rotated]);
      expect(rotated).not.toBe(old);
      expect(idp.counters.tokenCalls).toBe(0);
      expect(refreshesStarted(tabs)).toBe(0);
      expect(statesEntered(tabs)).not.toContain('debouncing');
      expect(tabs.sessions[0]!.getStatus()).toMatchObject({ state: 'idle', lastError: null });
    } finally {
      await tabs.dispose();
    }
  }, 30_000);

  it('a resource server that keeps asking: one more try, then its 401 is the caller’s, and no refresh starts', async () => {
    const tabs = await signedInTabs(frontEnd, { count: 1 });
    try {
      const [client] = tabs.clients;
      expect(await client!.request(`${apiB.api}/warm-up`)).toBe(200);
      const before = apiB.stats.requests;
      apiB.challengeAlways = true;
      try {
        expect(await client!.request(`${apiB.api}/always-asking`)).toBe(401);
      } finally {
        apiB.challengeAlways = false;
      }
      expect(apiB.stats.requests - before).toBe(2);
      expect(idp.counters.tokenCalls).toBe(0);
      expect(refreshesStarted(tabs)).toBe(0);
      expect(statesEntered(tabs)).not.toContain('debouncing');
      // The nonce it gave last is remembered: the next request is accepted at once.
      const calls = apiB.stats.requests;
      expect(await client!.request(`${apiB.api}/after`)).toBe(200);
      expect(apiB.stats.requests - calls).toBe(1);
    } finally {
      await tabs.dispose();
    }
  }, 30_000);

  it('nonces are remembered per origin, and a DPoP-Nonce on any answer replaces the one remembered', async () => {
    const tabs = await signedInTabs(frontEnd, { count: 1 });
    try {
      const [client] = tabs.clients;
      expect(await client!.request(`${apiA.api}/learn`)).toBe(200);
      expect(await client!.request(`${apiB.api}/learn`)).toBe(200);
      const challenges = () => apiA.stats.nonceChallenges + apiB.stats.nonceChallenges;
      const learned = challenges();
      // Alternating origins: each proof carries its own origin's nonce, none is challenged.
      for (let i = 0; i < 3; i++) {
        expect(await client!.request(`${apiA.api}/alternate-${i}`)).toBe(200);
        expect(await client!.request(`${apiB.api}/alternate-${i}`)).toBe(200);
      }
      expect(challenges()).toBe(learned);
      expect(apiA.nonce).not.toBe(apiB.nonce);
      expect(apiA.stats.accepted.slice(-3).map((p) => p.nonce)).toEqual(Array(3).fill(apiA.nonce));
      expect(apiB.stats.accepted.slice(-3).map((p) => p.nonce)).toEqual(Array(3).fill(apiB.nonce));
      // A 200 that announces the next nonce: the next proof carries it, with no challenge.
      const next = apiA.announceNonce();
      expect(await client!.request(`${apiA.api}/announced`)).toBe(200);
      expect(await client!.request(`${apiA.api}/uses-announced`)).toBe(200);
      expect(apiA.stats.accepted.at(-1)!.nonce).toBe(next);
      expect(apiA.nonce).toBe(next);
      expect(challenges()).toBe(learned);
      expect(idp.counters.tokenCalls).toBe(0);
    } finally {
      await tabs.dispose();
    }
  }, 30_000);

  it('a proof that the server has seen, or one of another key, is refused: the binding is checked, not assumed', async () => {
    const tabs = await signedInTabs(frontEnd, { count: 1 });
    try {
      const [client] = tabs.clients;
      expect(await client!.request(`${apiA.api}/ok`)).toBe(200);
      // The key store now hands out another key than the token is bound to (a thief's).
      const thief = memoryDPoPKeys();
      const tokens = (await tabs.store.get())!;
      // (Its refresher gives up at once: only the request's refusal is under test.)
      const session = createSession({
        refresh: () => Promise.reject(new RefreshError({ kind: 'permanent', reason: 'invalid_grant' })),
        maxPermanentFailures: 1,
        debounceMs: 0,
        tokens,
        dpop: thief,
      });
      try {
        const stolen = frontEnd(session, [apiA.origin]);
        const outcome = await stolen.request(`${apiA.api}/stolen`);
        expect(outcome).not.toBe(200);
        expect(apiA.stats.refusals).toContain('token bound to another key');
      } finally {
        await session.dispose();
      }
    } finally {
      await tabs.dispose();
    }
  }, 30_000);

  it('a DPoP key store that fails: the request is not sent, and fails with DPOP_UNAVAILABLE', async () => {
    const keys = memoryDPoPKeys();
    const signedIn = await idp.signIn({ dpop: await keys.rotate() });
    const broken: DPoPKeyStore = { getOrCreate: () => Promise.reject(new Error('disk gone')), rotate: () => keys.rotate(), clear: () => keys.clear() };
    const session = createSession({
      refresh: oauthRefresher({ tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId }),
      dpop: broken,
      tokens: { accessToken: signedIn.accessToken, refreshToken: signedIn.refreshToken, tokenType: 'DPoP' },
    });
    try {
      const before = apiA.stats.requests;
      expect(await frontEnd(session, [apiA.origin]).request(`${apiA.api}/never-sent`)).toBe('DPOP_UNAVAILABLE');
      expect(apiA.stats.requests).toBe(before);
    } finally {
      await session.dispose();
    }
  }, 30_000);
});

describe('redirects of DPoP requests', () => {
  it('fetch (Node, redirects followed by hand) signs a new proof for each hop', async () => {
    const tabs = await signedInTabs(frontEnds[0]![1], { count: 1 });
    try {
      const [client] = tabs.clients;
      const outcome = await client!.request(`${apiA.origin}/redirect?to=/api/landed`);
      expect(outcome).toBe(200);
      expect(apiA.stats.accepted.at(-1)!.path).toBe('/api/landed');
      expect(refreshesStarted(tabs)).toBe(0);
    } finally {
      await tabs.dispose();
    }
  }, 30_000);

  it('axios (http adapter) sends the hop without the token and the proof; its 401 is the caller’s and starts no refresh', async () => {
    const tabs = await signedInTabs(frontEnds[1]![1], { count: 1 });
    try {
      const [client] = tabs.clients;
      const before = apiA.stats.refusals.length;
      expect(await client!.request(`${apiA.origin}/redirect?to=/api/landed`)).toBe(401);
      expect(apiA.stats.refusals.slice(before)).toEqual(['no DPoP token']);
      expect(refreshesStarted(tabs)).toBe(0);
      expect(idp.counters.tokenCalls).toBe(0);
    } finally {
      await tabs.dispose();
    }
  }, 30_000);
});
