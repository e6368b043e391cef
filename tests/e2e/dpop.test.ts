/**
 * DPoP (RFC 9449) end to end in Node: oidc-provider with DPoP on and nonces required
 * (issuer with a path, behind its proxy), and a resource server that checks every proof
 * (signature, htm, htu, iat, jti replay, ath) and that the token is bound to the proof's key
 * (introspection's cnf.jkt).
 *
 * Requests carry `Authorization: DPoP <token>` and a proof made with oauth4webapi's
 * protectedResourceRequest and the session's key, independently of authchart's front ends:
 * what is under test here is the session (its key, its refreshes and their nonces). The
 * fetch and axios front ends' own proofs: tests/e2e/dpop-requests.test.ts.
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSession,
  memoryDPoPKeys,
  memoryLock,
  memoryStore,
  type DPoPKeyStore,
  type LogEntry,
  type Session,
  type TokenStore,
} from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { keyThumbprint } from '../support/dpop-proof.js';
import { startOidcProvider, type OidcFixture, type SignedIn } from '../support/oidc-provider.js';
import { startResourceServer, type ResourceServer } from '../support/resource-server.js';

const TABS = 4;
const REQUESTS_PER_TAB = 10;

let idp: OidcFixture;
let api: ResourceServer;

beforeAll(async () => {
  idp = await startOidcProvider({ dpop: { requireNonce: true } });
  api = await startResourceServer(idp, { dpop: true });
});

afterAll(async () => {
  await api?.close();
  await idp?.close();
});

/** A resource request with a fresh proof made with `keyPair`; its status (a refusal is a status too). */
async function dpopRequest(accessToken: string, keyPair: CryptoKeyPair, path: string, proof?: { reuse?: Headers }): Promise<number> {
  const headers = new Headers();
  try {
    const response = await oauth.protectedResourceRequest(accessToken, 'GET', new URL(`${api.api}${path}`), headers, null, {
      DPoP: oauth.DPoP({}, keyPair),
      [oauth.allowInsecureRequests]: true,
      // Keep the proof that was sent, for the replay test.
      [oauth.customFetch]: (url, init) => {
        proof?.reuse?.set('dpop', new Headers(init.headers).get('dpop') ?? '');
        return fetch(url, init as RequestInit);
      },
    });
    return response.status;
  } catch (error) {
    if (error instanceof oauth.WWWAuthenticateChallengeError) return error.status;
    throw error;
  }
}

/** Until the provider itself says the access token is no longer active (bounded). */
async function expired(accessToken: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await idp.introspect(accessToken)).active) {
    if (Date.now() > deadline) throw new Error('the access token was still active after 10 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Tabs {
  sessions: Session[];
  store: TokenStore;
  keys: DPoPKeyStore;
  logs: LogEntry[][];
  signedIn: SignedIn;
  dispose(): Promise<void>;
}

/** Sign in with a new key, let the access token expire, and open four tabs on one store, lock and key store. */
async function tabsAfterExpiry(): Promise<Tabs> {
  const keys = memoryDPoPKeys();
  const signedIn = await idp.signIn({ dpop: await keys.rotate(), accessTokenTtlSeconds: 1 });
  expect(signedIn.tokenType).toBe('dpop');
  await expired(signedIn.accessToken);
  idp.resetCounters();
  const store = memoryStore({ accessToken: signedIn.accessToken, refreshToken: signedIn.refreshToken, expiresAt: Date.now() - 1 });
  const lock = memoryLock();
  const logs: LogEntry[][] = [];
  const sessions = Array.from({ length: TABS }, () => {
    const log: LogEntry[] = [];
    logs.push(log);
    // Each tab builds its own refresher, as each tab of a browser would.
    return createSession({
      refresh: oauthRefresher({ tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId }),
      store,
      lock,
      dpop: keys,
      logger: (entry) => log.push(entry),
    });
  });
  return { sessions, store, keys, logs, signedIn, dispose: async () => void (await Promise.all(sessions.map((s) => s.dispose()))) };
}

const refreshTokenCalls = () => idp.calls.filter((c) => c.grantType === 'refresh_token');
const presentedRealRefreshTokens = () => refreshTokenCalls().filter((c) => c.refreshToken !== 'authchart-dpop-nonce-probe');

describe('DPoP against oidc-provider (nonces required) and a proof-checking resource server', () => {
  it('4 tabs × 10 requests after expiry: one refresh, the refresh token presented once, 40 of 40 succeed, all bound to the one key', async () => {
    const tabs = await tabsAfterExpiry();
    try {
      const keyPair = await tabs.keys.getOrCreate();
      const statuses = await Promise.all(
        tabs.sessions.flatMap((session, t) =>
          Array.from({ length: REQUESTS_PER_TAB }, async (_, i) => dpopRequest(await session.getAccessToken(), keyPair, `/tab-${t}/item-${i}`)),
        ),
      );
      const figures = {
        tokenCalls: idp.counters.tokenCalls,
        refreshTokenPresented: presentedRealRefreshTokens().length,
        nonceProbes: refreshTokenCalls().length - presentedRealRefreshTokens().length,
        useDpopNonce: idp.counters.useDpopNonce,
        rotated: idp.counters.rotated,
        invalidGrant: idp.counters.invalidGrant,
        reuseDetected: idp.counters.reuseDetected,
        revoked: idp.counters.revoked,
        requestsOk: statuses.filter((s) => s === 200).length,
        states: tabs.sessions.map((s) => s.getStatus().state),
      };
      console.info('[e2e] DPoP herd:', JSON.stringify(figures));
      expect(figures).toMatchObject({
        refreshTokenPresented: 1,
        rotated: 1,
        invalidGrant: 0,
        reuseDetected: 0,
        revoked: 0,
        requestsOk: TABS * REQUESTS_PER_TAB,
      });
      // Learning the nonce takes one call, which presents no refresh token.
      expect(figures.tokenCalls).toBe(2);
      expect(figures.nonceProbes).toBe(1);
      expect(figures.states).toEqual(['idle', 'idle', 'idle', 'idle']);
      // The access token every tab holds is bound to the one key pair they share.
      const token = await tabs.sessions[3]!.getAccessToken();
      expect((await idp.introspect(token)).cnf?.jkt).toBe(await keyThumbprint(keyPair));
    } finally {
      await tabs.dispose();
    }
  }, 30_000);

  it('a nonce that went stale: the provider refuses it, the refresh is retried at once, nothing is counted as a failure', async () => {
    const tabs = await tabsAfterExpiry();
    try {
      const [session] = tabs.sessions;
      await session!.refresh();
      // The next answer hands the client a nonce the provider never issued (as a stale one looks to it).
      idp.poisonNextNonce();
      await session!.refresh();
      const before = idp.counters.useDpopNonce;
      const presentedBefore = presentedRealRefreshTokens().length;
      await session!.refresh();
      // The refused call did not consume the refresh token: the retry presents it again and it rotates.
      const presented = presentedRealRefreshTokens().slice(presentedBefore);
      expect(presented.map((c) => c.status)).toEqual([400, 200]);
      expect(presented[0]!.refreshToken).toBe(presented[1]!.refreshToken);
      const log = tabs.logs[0]!;
      const failures = log.filter((e) => e.type === 'refresh.failed');
      console.info(
        '[e2e] DPoP stale nonce:',
        JSON.stringify({
          calls: idp.calls.map((c) => `${c.grantType}:${c.status}${c.error ? `:${c.error}` : ''}`),
          useDpopNonce: idp.counters.useDpopNonce,
          rotated: idp.counters.rotated,
        }),
      );
      expect(idp.counters.useDpopNonce - before).toBe(1);
      expect(failures).toEqual([]);
      expect(log.filter((e) => e.type === 'state').map((e) => (e as { to: string }).to)).not.toContain('backoff');
      expect(idp.counters.reuseDetected).toBe(0);
      expect(idp.counters.rotated).toBe(3);
      expect(session!.getStatus()).toMatchObject({ state: 'idle', attempt: 0, lastError: null });
    } finally {
      await tabs.dispose();
    }
  }, 30_000);

  it('the binding is real: a replayed proof, a proof of another key, a Bearer request and a refresh with another key are all refused', async () => {
    const tabs = await tabsAfterExpiry();
    try {
      const session = tabs.sessions[0]!;
      const token = await session.getAccessToken();
      const keyPair = await tabs.keys.getOrCreate();
      const sent = new Headers();
      expect(await dpopRequest(token, keyPair, '/replay', { reuse: sent })).toBe(200);
      // The same proof again (captured on the wire): refused.
      const replay = await fetch(`${api.api}/replay`, { headers: { authorization: `DPoP ${token}`, dpop: sent.get('dpop')! } });
      expect(replay.status).toBe(401);
      // A valid proof, but signed by another key than the token is bound to: refused.
      const thief = await memoryDPoPKeys().getOrCreate();
      expect(await dpopRequest(token, thief, '/stolen')).toBe(401);
      // The token as a Bearer token: refused.
      expect((await fetch(`${api.api}/bearer`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
      expect(api.stats.refusals.slice(-3)).toEqual(['jti replayed', 'token bound to another key', 'no DPoP token']);
      // The refresh token, presented with another key: the provider refuses it and the session lives on.
      const current = (await tabs.store.get())!.refreshToken!;
      const stolen = await oauthRefresher({ tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId })(current, {
        signal: new AbortController().signal,
        dpopKeyPair: thief,
      }).catch((e: unknown) => e);
      expect(stolen).toMatchObject({ kind: 'permanent', reason: 'invalid_grant' });
      await session.refresh();
      expect(await dpopRequest(await session.getAccessToken(), keyPair, '/after')).toBe(200);
      expect(idp.counters).toMatchObject({ reuseDetected: 0, revoked: 0 });
    } finally {
      await tabs.dispose();
    }
  }, 30_000);

  it('a new sign-in starts with a new key (rotate), and the session refreshes with it', async () => {
    const keys = memoryDPoPKeys();
    const first = await keys.rotate();
    const oldSignIn = await idp.signIn({ dpop: first });
    const session = createSession({
      refresh: oauthRefresher({ tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId }),
      dpop: keys,
      tokens: { accessToken: oldSignIn.accessToken, refreshToken: oldSignIn.refreshToken },
    });
    try {
      await session.logout();
      const second = await keys.rotate();
      expect(await keyThumbprint(second)).not.toBe(await keyThumbprint(first));
      const signedIn = await idp.signIn({ dpop: second, account: 'user-2' });
      await session.login({ accessToken: signedIn.accessToken, refreshToken: signedIn.refreshToken });
      await session.refresh();
      const token = await session.getAccessToken();
      expect((await idp.introspect(token)).cnf?.jkt).toBe(await keyThumbprint(second));
      expect(await dpopRequest(token, first, '/old-key')).toBe(401);
      expect(await dpopRequest(token, second, '/new-key')).toBe(200);
    } finally {
      await session.dispose();
    }
  }, 30_000);
});
