/**
 * Tokens sealed in a cookie, rotated once per refresh token however many requests carry
 * it: in one process (the statechart's single flight) and across two "instances" sharing
 * a real redis-server (rotation cache + lock). The referee is the strict rotating token
 * server over HTTP on 127.0.0.1 (presenting a rotated refresh token revokes the family).
 *
 * Time: the token server and the cores read one clock that tests move forward.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isAuthchartError } from '../../adapters/core/errors.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { redisRotationCache } from '../../adapters/redis/index.js';
import { createSealer } from '../../adapters/server/seal.js';
import { createTokenCookieCore, type TokenCookieCore, type TokenCookieOptions } from '../../adapters/server/token-cookie.js';
import { startTestServers, type TestServers } from '../../adapters/testing/node-server.js';
import { createTokenServer, issuedSecrets, type TokenServer } from '../../adapters/testing/token-server.js';
import { uniquePrefix, useRedis } from '../redis/support/clients.js';

const SECRET = 'test-secret-test-secret-test-secret-0001';
const redis = useRedis();
const clock = { offset: 0 };
const now = () => Date.now() + clock.offset;
let tokens: TokenServer;
let servers: TestServers;
const cores: TokenCookieCore[] = [];

beforeAll(async () => {
  tokens = createTokenServer({ accessTokenTtlSeconds: 60, now });
  servers = await startTestServers(tokens);
});

afterAll(async () => {
  await Promise.all(cores.map((core) => core.dispose()));
  await servers?.close();
});

beforeEach(() => {
  tokens.resetStats();
});

function core(options: Partial<TokenCookieOptions> = {}): TokenCookieCore {
  const made = createTokenCookieCore({
    secret: SECRET,
    refresh: oauthRefresher({ tokenEndpoint: servers.tokenEndpoint, clientId: 'authchart-tests' }),
    ...options,
    session: { now, backoffBaseMs: 20, ...options.session },
  });
  cores.push(made);
  return made;
}

/** A signed-in cookie whose access token has expired (an hour has passed). */
async function expiredCookie(sealer: TokenCookieCore): Promise<{ cookie: string; refreshToken: string }> {
  const login = tokens.login();
  const cookie = await sealer.seal({ accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: now() + 60_000 });
  clock.offset += 3600_000;
  return { cookie, refreshToken: login.refresh_token };
}

const valid = (accessToken: string) => tokens.authenticate(`Bearer ${accessToken}`).ok;

describe('sealing', () => {
  it('round-trips tokens; a tampered value, another secret or garbage opens to null', async () => {
    const sealer = createSealer(SECRET);
    const set = { accessToken: 'at_1', refreshToken: 'rt_1', expiresAt: 1_800_000_000_000 };
    const sealed = await sealer.seal(set);
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('at_1');
    expect(await sealer.unseal(sealed)).toEqual(set);
    const flipped = sealed.slice(0, -2) + (sealed.at(-2) === 'A' ? 'B' : 'A') + sealed.at(-1);
    expect(await sealer.unseal(flipped)).toBeNull();
    expect(await createSealer('another-secret-another-secret-another-secret').unseal(sealed)).toBeNull();
    expect(await sealer.unseal('v1.???')).toBeNull();
    expect(await sealer.unseal('plain')).toBeNull();
  });

  it('keeps the token type (a DPoP-bound token stays DPoP after a round trip)', async () => {
    const sealer = createSealer(SECRET);
    expect(await sealer.unseal(await sealer.seal({ accessToken: 'at', refreshToken: 'rt', tokenType: 'DPoP' }))).toEqual({
      accessToken: 'at',
      refreshToken: 'rt',
      tokenType: 'DPoP',
    });
  });

  it('opens values sealed with a previous secret when it is listed after the new one', async () => {
    const old = await createSealer(SECRET).seal({ accessToken: 'at_old' });
    const rotated = createSealer(['a-new-secret-a-new-secret-a-new-secret-1', SECRET]);
    expect(await rotated.unseal(old)).toEqual({ accessToken: 'at_old' });
    expect(await createSealer(SECRET).unseal(await rotated.seal({ accessToken: 'at_new' }))).toBeNull();
  });

  it('refuses short secrets', () => {
    expect(() => createSealer('short')).toThrow(/at least 32 characters/);
  });
});

describe('one process', () => {
  it('a valid cookie is used as it is: no token call, no new cookie', async () => {
    const one = core();
    const login = tokens.login();
    const cookie = await one.seal({ accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: now() + 60_000 });
    const resolved = await one.resolve(cookie);
    expect(resolved).toEqual({ tokens: { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: expect.any(Number) }, cookie: null });
    expect(tokens.stats.tokenCalls).toBe(0);
  });

  it('30 parallel requests with the same expired cookie: one token call, the same new cookie for all, every token valid', async () => {
    const one = core();
    const { cookie, refreshToken } = await expiredCookie(one);
    const results = await Promise.all(Array.from({ length: 30 }, () => one.resolve(cookie)));
    expect(tokens.calls.map((c) => c.outcome)).toEqual(['rotated']);
    expect(tokens.calls[0]!.refreshToken).toBe(refreshToken);
    expect(new Set(results.map((r) => r!.cookie)).size).toBe(1);
    expect(results.every((r) => r!.cookie !== null && r!.cookie !== cookie && valid(r!.tokens.accessToken))).toBe(true);
    // The rotated refresh token is the family's current one: the session is alive.
    expect(tokens.isAlive(results[0]!.tokens.refreshToken!)).toBe(true);
  });

  it('a request that comes later with the old cookie gets the same result (within resultTtlMs), and a cookie two rotations behind catches up', async () => {
    const one = core({ resultTtlMs: 3 * 3600_000 });
    const { cookie } = await expiredCookie(one);
    const first = await one.resolve(cookie);
    clock.offset += 3600_000; // the first result's access token expires too
    const second = await one.resolve(first!.cookie!);
    expect(tokens.stats.refreshCalls).toBe(2);
    // The browser never got either new cookie (say, a Server Component rendered both times).
    const late = await one.resolve(cookie);
    expect(late!.cookie).toBe(second!.cookie);
    expect(valid(late!.tokens.accessToken)).toBe(true);
    expect(tokens.stats.refreshCalls).toBe(2);
    expect(tokens.stats.reuseDetected).toBe(0);
  });

  it('past resultTtlMs the old cookie is spent: SESSION_EXPIRED, and the new cookie keeps working', async () => {
    const one = core({ resultTtlMs: 60_000 });
    const { cookie } = await expiredCookie(one);
    const first = await one.resolve(cookie);
    clock.offset += 61_000;
    await expect(one.resolve(cookie)).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
    const current = await one.resolve(first!.cookie!);
    expect(valid(current!.tokens.accessToken)).toBe(true);
  });

  it('a refused refresh token ends the session at once: SESSION_EXPIRED after one token call', async () => {
    const one = core();
    const { cookie, refreshToken } = await expiredCookie(one);
    tokens.revoke(refreshToken);
    const outcomes = await Promise.allSettled([one.resolve(cookie), one.resolve(cookie)]);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      expect(isAuthchartError((outcome as PromiseRejectedResult).reason, 'SESSION_EXPIRED')).toBe(true);
    }
    expect(tokens.calls.map((c) => c.outcome)).toEqual(['revoked']);
  });

  it('a token endpoint that keeps failing: REFRESH_UNAVAILABLE, and the cookie still works once it is back', async () => {
    const one = core({ session: { maxRetries: 1 } });
    const { cookie } = await expiredCookie(one);
    tokens.fault({ type: 'unavailable' }, { type: 'unavailable' });
    await expect(one.resolve(cookie)).rejects.toMatchObject({ code: 'REFRESH_UNAVAILABLE' });
    const resolved = await one.resolve(cookie);
    expect(valid(resolved!.tokens.accessToken)).toBe(true);
    expect(tokens.calls.map((c) => c.outcome)).toEqual(['fault:unavailable', 'fault:unavailable', 'rotated']);
  });

  it("rotates leewayMs before the expiry, but never more than half a short-lived token's lifetime before it", async () => {
    const one = core({ leewayMs: 10_000 });
    const login = tokens.login();
    const long = await one.seal({ accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: now() + 60_000 });
    clock.offset += 49_000; // 11 s left: not yet
    expect((await one.resolve(long))!.cookie).toBeNull();
    clock.offset += 2_000; // 9 s left: within the leeway
    expect((await one.resolve(long))!.cookie).not.toBeNull();
    expect(tokens.stats.refreshCalls).toBe(1);
    const short = tokens.login();
    const brief = await one.seal({ accessToken: short.access_token, refreshToken: short.refresh_token, expiresAt: now() + 4_000 });
    expect((await one.resolve(brief))!.cookie).toBeNull(); // 4 s left, leeway capped at 2 s
    clock.offset += 2_500;
    expect((await one.resolve(brief))!.cookie).not.toBeNull();
    expect(tokens.stats.refreshCalls).toBe(2);
  });

  it('a 401 for a token that still looked valid: one rotation for every request that reports it, and a stale 401 gets its result', async () => {
    const one = core();
    const login = tokens.login();
    const set = { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: now() + 60_000 };
    tokens.revoke(login.refresh_token); // not yet: first check the stale path below with a live family
    const live = tokens.login();
    const fresh = { accessToken: live.access_token, refreshToken: live.refresh_token, expiresAt: now() + 60_000 };
    tokens.expireAccessTokens([live.access_token]); // the API says 401, our clock says valid
    const results = await Promise.all(Array.from({ length: 10 }, () => one.unauthorized(fresh)));
    expect(tokens.calls.map((c) => c.outcome)).toEqual(['rotated']);
    expect(new Set(results.map((r) => r.cookie)).size).toBe(1);
    expect(valid(results[0]!.tokens.accessToken)).toBe(true);
    // A request that was in flight with the old token reports its 401 later: no second call.
    const late = await one.unauthorized(fresh);
    expect(late.cookie).toBe(results[0]!.cookie);
    expect(tokens.stats.refreshCalls).toBe(1);
    // A refused refresh token: SESSION_EXPIRED.
    await expect(one.unauthorized(set)).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
  });

  it('a value that is not ours resolves to null (not signed in)', async () => {
    expect(await core().resolve('v1.bm90LW91cnM')).toBeNull();
  });

  it('refuses to seal tokens too large for a cookie', async () => {
    await expect(core().seal({ accessToken: 'x'.repeat(5000) })).rejects.toThrow(/more than a cookie holds/);
  });

  it('never puts a token in the cookie in clear, nor in an error', async () => {
    const one = core();
    const { cookie, refreshToken } = await expiredCookie(one);
    const resolved = await one.resolve(cookie);
    for (const secret of issuedSecrets()) expect(resolved!.cookie).not.toContain(secret);
    tokens.revoke(resolved!.tokens.refreshToken!);
    clock.offset += 3600_000;
    const error = await one.resolve(resolved!.cookie!).catch((e: unknown) => e);
    expect(String((error as Error).message)).not.toContain(refreshToken);
  });
});

describe('two instances sharing Redis (rotation cache and lock)', () => {
  it('parallel requests with the same expired cookie on both: one token call, one new cookie', async () => {
    const prefix = uniquePrefix();
    const instances = await Promise.all(
      (['node-redis', 'ioredis'] as const).map(async (kind) => {
        const connection = await redis.connectTo(kind);
        return core({ shared: redisRotationCache({ client: connection.client, subscriber: connection.subscriber, prefix }) });
      }),
    );
    const { cookie, refreshToken } = await expiredCookie(instances[0]!);
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => instances[i % 2]!.resolve(cookie)));
    console.log(`[figures] token cookie, 2 instances on Redis: parallel=24 tokenCalls=${tokens.stats.refreshCalls} reuse=${tokens.stats.reuseDetected}`);
    expect(tokens.calls.map((c) => c.outcome)).toEqual(['rotated']);
    expect(tokens.calls[0]!.refreshToken).toBe(refreshToken);
    expect(new Set(results.map((r) => r!.cookie)).size).toBe(1);
    expect(results.every((r) => valid(r!.tokens.accessToken))).toBe(true);
    expect(tokens.isAlive(results[0]!.tokens.refreshToken!)).toBe(true);
  });

  it('without the shared cache, two instances present the same refresh token: the strict server revokes the session (why `shared` is required)', async () => {
    const [a, b] = [core(), core()];
    const { cookie } = await expiredCookie(a!);
    const outcomes = await Promise.allSettled([a!.resolve(cookie), b!.resolve(cookie)]);
    expect(tokens.stats.refreshCalls).toBe(2);
    expect(tokens.stats.reuseDetected).toBe(1);
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(1);
    const winner = outcomes.find((o) => o.status === 'fulfilled') as PromiseFulfilledResult<Awaited<ReturnType<TokenCookieCore['resolve']>>>;
    expect(tokens.isAlive(winner.value!.tokens.refreshToken!)).toBe(false);
  });

  it('answers REDIS_UNAVAILABLE when the shared cache cannot be reached (last: it stops Redis)', async () => {
    const connection = await redis.connectTo('node-redis');
    const one = core({ shared: redisRotationCache({ client: connection.client, prefix: uniquePrefix(), operationTimeoutMs: 300 }) });
    const { cookie } = await expiredCookie(one);
    await redis.server.kill();
    await expect(one.resolve(cookie)).rejects.toMatchObject({ code: 'REDIS_UNAVAILABLE' });
    expect(tokens.stats.tokenCalls).toBe(0);
  });
});
