/**
 * redisDPoPKeys against a real redis-server (node-redis and ioredis): one key pair per
 * session for every instance, beside the session's tokens; the private key encrypted at
 * rest with the app's secret (or in the clear when the app says so); rotation at sign-in.
 * Then end to end: two instances (Redis store, lock and key store) against oidc-provider
 * with nonces required and a proof-checking resource server.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, isAuthchartError, type Session } from '../../adapters/index.js';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { redisDPoPKeys, redisLock, redisStore } from '../../adapters/redis/index.js';
import { createSessionManager, type SessionManager } from '../../adapters/server/index.js';
import { sessionKeys } from '../../adapters/redis/keys.js';
import { keyThumbprint } from '../support/dpop-proof.js';
import { startOidcProvider, type OidcFixture } from '../support/oidc-provider.js';
import { startResourceServer, type ResourceServer } from '../support/resource-server.js';
import { clientKinds, uniquePrefix, useRedis } from './support/clients.js';

const redis = useRedis();
const SECRET = `${'k'.repeat(16)}0123456789abcdef`; // 32 bytes
const OTHER_SECRET = 'z'.repeat(32);

/** A signature made with `pair` verifies with `other`'s public key: the same key pair. */
async function sameKey(pair: CryptoKeyPair, other: CryptoKeyPair): Promise<boolean> {
  const data = new TextEncoder().encode('same key?');
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, data);
  return crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, other.publicKey, signature, data);
}

/** Decrypt a stored record by the documented format (docs/dpop.md), as an operator could. */
async function decryptByHand(raw: string, secret: string, sessionId: string, prefix: string): Promise<JsonWebKey> {
  const record = JSON.parse(raw) as { salt: string; iv: string; ct: string };
  const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'base64url'));
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), 'HKDF', false, ['deriveKey']);
  const aes = await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: bytes(record.salt), info: new TextEncoder().encode('authchart/redis-dpop-key/v1') },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['decrypt'],
  );
  const aad = new TextEncoder().encode(`authchart dpop key ${sessionKeys(prefix, sessionId).id}`);
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: bytes(record.iv), additionalData: aad }, aes, bytes(record.ct));
  return JSON.parse(new TextDecoder().decode(plain)) as JsonWebKey;
}

describe('redisDPoPKeys', () => {
  it('four instances (node-redis and ioredis) asking at once get one key pair, stored once, beside the session’s tokens', async () => {
    const prefix = uniquePrefix();
    const sessionId = 'user-7@example.com';
    const connections = await Promise.all([...clientKinds, ...clientKinds].map((kind) => redis.connectTo(kind)));
    const stores = connections.map(({ client }) => redisDPoPKeys({ client, sessionId, prefix, secret: SECRET }));
    const pairs = await Promise.all(stores.map((store) => store.getOrCreate()));
    const thumbprints = await Promise.all(pairs.map(keyThumbprint));
    expect(new Set(thumbprints).size).toBe(1);
    for (const pair of pairs) expect(pair.privateKey.extractable).toBe(false);
    expect(await sameKey(pairs[0]!, pairs[3]!)).toBe(true);
    await redisStore({ client: connections[0]!.client, sessionId, prefix }).set({ accessToken: 'at', refreshToken: 'rt' });
    const keys = ((await connections[0]!.raw('KEYS', `${prefix}*`)) as string[]).sort();
    const tag = sessionKeys(prefix, sessionId).id;
    expect(keys).toEqual([`${prefix}{${tag}}:dpop`, `${prefix}{${tag}}:tokens`]);
    for (const key of keys) expect(key).not.toContain('user-7');
  });

  it('keeps the private key encrypted at rest: the record decrypts only with the secret, for this session', async () => {
    const { client, raw } = await redis.connectTo('node-redis');
    const prefix = uniquePrefix();
    const store = redisDPoPKeys({ client, sessionId: 's1', prefix, secret: SECRET });
    const pair = await store.getOrCreate();
    const stored = (await raw('GET', `${prefix}{${sessionKeys(prefix, 's1').id}}:dpop`)) as string;
    const record = JSON.parse(stored) as Record<string, unknown>;
    expect(record).toMatchObject({ v: 1, alg: 'ES256', enc: 'A256GCM' });
    expect(Object.keys(record).sort()).toEqual(['alg', 'ct', 'enc', 'iv', 'salt', 'v']);
    // The ciphertext holds the very key the store signs with.
    const jwk = await decryptByHand(stored, SECRET, 's1', prefix);
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(stored).not.toContain(jwk.d!);
    const fromHand = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    expect(await sameKey({ privateKey: fromHand, publicKey: pair.publicKey }, pair)).toBe(true);
    // Moved under another session's key, the record does not decrypt (the key name is bound in).
    await expect(decryptByHand(stored, SECRET, 's2', prefix)).rejects.toThrow();
  });

  it('a wrong secret fails with DPOP_UNAVAILABLE and leaves the key alone; a list with the old secret after the new one reads it', async () => {
    const { client, raw } = await redis.connectTo('ioredis');
    const prefix = uniquePrefix();
    const key = `${prefix}{${sessionKeys(prefix, 's').id}}:dpop`;
    const original = await redisDPoPKeys({ client, sessionId: 's', prefix, secret: SECRET }).getOrCreate();
    const before = await raw('GET', key);
    const error = await redisDPoPKeys({ client, sessionId: 's', prefix, secret: OTHER_SECRET })
      .getOrCreate()
      .catch((e: unknown) => e);
    expect(isAuthchartError(error, 'DPOP_UNAVAILABLE')).toBe(true);
    expect(await raw('GET', key)).toBe(before);
    // Nothing secret in what a log would print.
    const printed = inspect(error, { depth: 5 });
    for (const secret of [SECRET, OTHER_SECRET, String(before)]) expect(printed).not.toContain(secret);
    const rotatedSecret = await redisDPoPKeys({ client, sessionId: 's', prefix, secret: [OTHER_SECRET, SECRET] }).getOrCreate();
    expect(await sameKey(original, rotatedSecret)).toBe(true);
    // Without a secret, an encrypted key cannot be read.
    const unencrypted = await redisDPoPKeys({ client, sessionId: 's', prefix, unencrypted: true })
      .getOrCreate()
      .catch((e: unknown) => e);
    expect(isAuthchartError(unencrypted, 'DPOP_UNAVAILABLE')).toBe(true);
  });

  it('stores the private key in the clear only when told to, and reads it back not extractable', async () => {
    const { client, raw } = await redis.connectTo('node-redis');
    const prefix = uniquePrefix();
    const pair = await redisDPoPKeys({ client, sessionId: 'clear', prefix, unencrypted: true }).getOrCreate();
    const record = JSON.parse((await raw('GET', `${prefix}{${sessionKeys(prefix, 'clear').id}}:dpop`)) as string) as { enc: string; jwk: JsonWebKey };
    expect(record.enc).toBe('none');
    expect(typeof record.jwk.d).toBe('string');
    const again = await redisDPoPKeys({ client, sessionId: 'clear', prefix, unencrypted: true }).getOrCreate();
    expect(again.privateKey.extractable).toBe(false);
    expect(await sameKey(pair, again)).toBe(true);
    // An instance configured with a secret reads it too (moving from clear to encrypted).
    expect(await sameKey(pair, await redisDPoPKeys({ client, sessionId: 'clear', prefix, secret: SECRET }).getOrCreate())).toBe(true);
  });

  it('refuses to guess how to keep the key: no secret and no opt-in, both, or a short secret are INVALID_OPTIONS', async () => {
    const { client } = await redis.connectTo('node-redis');
    for (const options of [{}, { secret: SECRET, unencrypted: true }, { secret: 'short' }, { secret: [SECRET, 'short'] }, { secret: SECRET, sessionId: '' }]) {
      expect(() => redisDPoPKeys({ client, sessionId: 's', ...options }), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTIONS' }),
      );
    }
  });

  it('rotate() replaces the key for every instance (sign-in); clear() removes it (sign-out)', async () => {
    const [a, b] = await Promise.all([redis.connectTo('node-redis'), redis.connectTo('ioredis')]);
    const prefix = uniquePrefix();
    const instanceA = redisDPoPKeys({ client: a.client, sessionId: 's', prefix, secret: SECRET });
    const instanceB = redisDPoPKeys({ client: b.client, sessionId: 's', prefix, secret: SECRET });
    const first = await instanceA.getOrCreate();
    expect(await sameKey(first, await instanceB.getOrCreate())).toBe(true);
    const rotated = await instanceB.rotate();
    expect(await keyThumbprint(rotated)).not.toBe(await keyThumbprint(first));
    expect(await sameKey(rotated, await instanceA.getOrCreate())).toBe(true);
    await instanceA.clear();
    expect(await a.raw('EXISTS', `${prefix}{${sessionKeys(prefix, 's').id}}:dpop`)).toBe(0);
    const fresh = await instanceB.getOrCreate();
    expect([await keyThumbprint(first), await keyThumbprint(rotated)]).not.toContain(await keyThumbprint(fresh));
  });

  it('lives ttlMs after each write and each read, and never expires with ttlMs: null', async () => {
    const { client, raw } = await redis.connectTo('node-redis');
    const prefix = uniquePrefix();
    const key = (id: string) => `${prefix}{${sessionKeys(prefix, id).id}}:dpop`;
    const store = redisDPoPKeys({ client, sessionId: 'ttl', prefix, secret: SECRET, ttlMs: 60_000 });
    await store.getOrCreate();
    expect(Number(await raw('PTTL', key('ttl')))).toBeGreaterThan(50_000);
    await raw('PEXPIRE', key('ttl'), '5000');
    await store.getOrCreate();
    expect(Number(await raw('PTTL', key('ttl')))).toBeGreaterThan(50_000);
    await redisDPoPKeys({ client, sessionId: 'forever', prefix, secret: SECRET, ttlMs: null }).getOrCreate();
    expect(Number(await raw('PTTL', key('forever')))).toBe(-1);
  });

  it('replaces corrupt data with a new key (not JSON, a foreign record, another Redis type)', async () => {
    const { client, raw } = await redis.connectTo('ioredis');
    const prefix = uniquePrefix();
    const key = `${prefix}{${sessionKeys(prefix, 'c').id}}:dpop`;
    const store = redisDPoPKeys({ client, sessionId: 'c', prefix, secret: SECRET });
    for (const corruption of [
      ['SET', key, 'not json'],
      ['SET', key, '{"v":2}'],
      ['SET', key, '{"v":1,"alg":"ES256","enc":"none","jwk":{"kty":"RSA"}}'],
      ['HSET', key, 'a', 'b'],
    ]) {
      await raw('DEL', key);
      await raw(...(corruption as [string, ...string[]]));
      const outcome = await store.getOrCreate().then(
        (pair) => pair,
        (error: unknown) => error,
      );
      if (corruption[2]?.includes('RSA')) {
        // A record of ours whose key is not usable is reported, not replaced.
        expect(isAuthchartError(outcome, 'DPOP_UNAVAILABLE'), corruption.join(' ')).toBe(true);
        continue;
      }
      expect((outcome as CryptoKeyPair).privateKey, corruption.join(' ')).toBeDefined();
      expect(JSON.parse((await raw('GET', key)) as string)).toMatchObject({ enc: 'A256GCM' });
    }
  });
});

describe('two server instances with Redis (store, lock, DPoP keys) against oidc-provider with nonces required', () => {
  let idp: OidcFixture;
  let api: ResourceServer;
  beforeAll(async () => {
    idp = await startOidcProvider({ dpop: { requireNonce: true } });
    api = await startResourceServer(idp, { dpop: true, requireNonce: true });
  });
  afterAll(async () => {
    await api?.close();
    await idp?.close();
  });

  it('2 instances × 10 requests after expiry: the refresh token presented once, 20 of 20 succeed, all bound to the key the sign-in rotated into Redis', async () => {
    const prefix = uniquePrefix();
    const sessionId = 'web-session-1';
    const instances = await Promise.all(clientKinds.map((kind) => redis.connectTo(kind)));
    const dpopOf = (i: number) => redisDPoPKeys({ client: instances[i]!.client, sessionId, prefix, secret: SECRET });
    // Sign-in on instance 0: a new key for the new session, the code exchanged with it.
    const keyPair = await dpopOf(0).rotate();
    const signedIn = await idp.signIn({ dpop: keyPair, accessTokenTtlSeconds: 1 });
    await redisStore({ client: instances[0]!.client, sessionId, prefix }).set({
      accessToken: signedIn.accessToken,
      refreshToken: signedIn.refreshToken,
      tokenType: signedIn.tokenType,
    });
    const deadline = Date.now() + 10_000;
    while ((await idp.introspect(signedIn.accessToken)).active) {
      if (Date.now() > deadline) throw new Error('the access token was still active after 10 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    idp.resetCounters();
    api.resetStats();
    const sessions: Session[] = instances.map(({ client, subscriber }, i) =>
      createSession({
        refresh: oauthRefresher({ tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId }),
        store: redisStore({ client, subscriber, sessionId, prefix }),
        lock: redisLock({ client, subscriber, sessionId, prefix }),
        dpop: dpopOf(i),
      }),
    );
    try {
      const fetches = sessions.map((session) => createAuthFetch({ session, allowedOrigins: [api.origin] }));
      const statuses = await Promise.all(
        fetches.flatMap((authFetch, i) => Array.from({ length: 10 }, (_, n) => authFetch(`${api.api}/instance-${i}/${n}`).then((r) => r.status))),
      );
      const presented = idp.calls.filter((c) => c.grantType === 'refresh_token' && c.refreshToken !== 'authchart-dpop-nonce-probe');
      const figures = {
        tokenCalls: idp.counters.tokenCalls,
        refreshTokenPresented: presented.length,
        reuseDetected: idp.counters.reuseDetected,
        ok: statuses.filter((s) => s === 200).length,
        nonceRetries: api.stats.nonceChallenges,
      };
      console.info('[redis] DPoP 2 instances × 10 requests:', JSON.stringify(figures));
      expect(statuses).toEqual(Array(20).fill(200));
      expect(figures).toMatchObject({ refreshTokenPresented: 1, reuseDetected: 0 });
      // Each instance learns the token endpoint's nonce with a probe only if it refreshes itself: one did.
      expect(figures.tokenCalls).toBe(2);
      const jkt = await keyThumbprint(keyPair);
      expect(new Set(api.stats.accepted.map((p) => p.jkt))).toEqual(new Set([jkt]));
      expect((await idp.introspect(await sessions[1]!.getAccessToken())).cnf?.jkt).toBe(jkt);
    } finally {
      await Promise.all(sessions.map((s) => s.dispose()));
    }
  }, 45_000);
  it('two session managers (instances) with a key store per session: 2 × 10 getValidAccessToken after expiry present the refresh token once, bound to the sign-in’s key; logout(id) forgets the key', async () => {
    const prefix = uniquePrefix();
    const sessionId = 'managed-session-1';
    const instances = await Promise.all(clientKinds.map((kind) => redis.connectTo(kind)));
    const managerOf = (i: number): SessionManager => {
      const { client, subscriber } = instances[i]!;
      return createSessionManager({
        refresh: oauthRefresher({ tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId }),
        store: (id) => redisStore({ client, subscriber, sessionId: id, prefix }),
        lock: (id) => redisLock({ client, subscriber, sessionId: id, prefix }),
        dpop: (id) => redisDPoPKeys({ client, sessionId: id, prefix, secret: SECRET }),
      });
    };
    const managers = [managerOf(0), managerOf(1)];
    // Sign-in on instance 0: the session's new key, the code exchanged with it, then login.
    const keyPair = await redisDPoPKeys({ client: instances[0]!.client, sessionId, prefix, secret: SECRET }).rotate();
    const issuedBy = Date.now();
    const signedIn = await idp.signIn({ dpop: keyPair, accessTokenTtlSeconds: 1 });
    const expiresAt = issuedBy + 1_000;
    await managers[0]!.login(sessionId, { accessToken: signedIn.accessToken, refreshToken: signedIn.refreshToken, tokenType: signedIn.tokenType, expiresAt });
    const deadline = Date.now() + 10_000;
    while (Date.now() <= expiresAt || (await idp.introspect(signedIn.accessToken)).active) {
      if (Date.now() > deadline) throw new Error('the access token was still active after 10 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    idp.resetCounters();
    try {
      const tokens = await Promise.all(managers.flatMap((manager) => Array.from({ length: 10 }, () => manager.getValidAccessToken(sessionId))));
      const presented = idp.calls.filter((c) => c.grantType === 'refresh_token' && c.refreshToken !== 'authchart-dpop-nonce-probe');
      console.info(
        '[redis] DPoP session managers 2 × 10:',
        JSON.stringify({
          tokenCalls: idp.counters.tokenCalls,
          refreshTokenPresented: presented.length,
          reuseDetected: idp.counters.reuseDetected,
          distinctTokens: new Set(tokens).size,
        }),
      );
      expect(presented).toHaveLength(1);
      expect(idp.counters.reuseDetected).toBe(0);
      expect(new Set(tokens).size).toBe(1);
      const jkt = await keyThumbprint(keyPair);
      expect((await idp.introspect(tokens[0]!)).cnf?.jkt).toBe(jkt);
      // A third instance that never loaded the session signs it out: tokens and key are gone.
      const third = managerOf(0);
      await third.logout(sessionId);
      await third.dispose();
      // The tokens' key keeps only its version counter (the store's contract); the key is deleted.
      expect(await redisStore({ client: instances[0]!.client, sessionId, prefix }).get()).toBeNull();
      const left = (await instances[0]!.raw('KEYS', `${prefix}*`)) as string[];
      expect(
        left.filter((key) => key.endsWith(':dpop')),
        JSON.stringify(left),
      ).toEqual([]);
    } finally {
      await Promise.all(managers.map((manager) => manager.dispose()));
    }
  }, 45_000);

  it('a session manager refuses one DPoP key for every session (session.dpop)', () => {
    expect(() =>
      createSessionManager({
        refresh: async () => ({ accessToken: 'a' }),
        store: () => redisStore({ client: {} as never, sessionId: 'x' }),
        session: { dpop: {} } as never,
      }),
    ).toThrow(/per session/);
  });
});
