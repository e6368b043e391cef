/**
 * One suite, run against Express 5 and Fastify 5: two app instances of the framework on
 * 127.0.0.1, one real redis-server between them (`redisSessionManager`), the rotating
 * strict token server over HTTP as the referee, and an API that checks every bearer token.
 *
 * Time: the token server and the sessions read one clock that the tests move forward
 * ("an hour later"); everything else (HTTP, Redis, locks) runs in real time.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oauthRefresher } from '../../../adapters/oauth/index.js';
import { redisSessionManager } from '../../../adapters/redis/index.js';
import type { SessionManager } from '../../../adapters/server/index.js';
import { startTestServers, type TestServers } from '../../../adapters/testing/node-server.js';
import { createTokenServer, issuedSecrets, type TokenServer } from '../../../adapters/testing/token-server.js';
import { uniquePrefix, useRedis } from '../../redis/support/clients.js';
import { Client, startApp, startUpstream, type App, type Framework, type Upstream } from './apps.js';

const PARALLEL = 24;

export function serverIntegrationSuite(framework: Framework): void {
  const redis = useRedis();
  const prefix = uniquePrefix();
  const clock = { offset: 0 };
  const now = () => Date.now() + clock.offset;
  let tokens: TokenServer;
  let servers: TestServers;
  let upstream: Upstream;
  const apps: App[] = [];
  const managers: SessionManager[] = [];

  beforeAll(async () => {
    tokens = createTokenServer({ accessTokenTtlSeconds: 60, now });
    servers = await startTestServers(tokens);
    upstream = await startUpstream(tokens);
    for (const kind of ['node-redis', 'ioredis'] as const) {
      const connection = await redis.connectTo(kind);
      const sessions = redisSessionManager({
        client: connection.client,
        subscriber: connection.subscriber,
        prefix,
        operationTimeoutMs: 300,
        refresh: oauthRefresher({ tokenEndpoint: servers.tokenEndpoint, clientId: 'authchart-tests' }),
        // Short backoff so that "unavailable" is reached in tens of milliseconds.
        session: { now, backoffBaseMs: 20, maxWaitMs: 10_000, lockTimeoutMs: 5000 },
      });
      managers.push(sessions);
      apps.push(
        await startApp(framework, {
          sessions,
          tokenEndpoint: servers.tokenEndpoint,
          upstream: upstream.url,
          signIn: (set) => ({ ...set, expiresAt: now() + 60_000 }),
        }),
      );
    }
  }, 30_000);

  afterAll(async () => {
    for (const app of apps) await app.close();
    for (const sessions of managers) await sessions.dispose();
    await upstream?.close();
    await servers?.close();
  });

  const url = (instance: number, path: string) => `${apps[instance]!.url}${path}`;
  const signIn = async () => {
    const client = new Client();
    const response = await client.request(url(0, '/login'), { method: 'POST' });
    expect(response.status).toBe(204);
    expect(client.cookie).not.toBeNull();
    return client;
  };
  const anHourLater = () => {
    clock.offset += 3600_000;
  };

  describe(`${framework} 5: two instances on one Redis`, () => {
    it('sign-in sets an HttpOnly, SameSite=Lax, Secure cookie that holds only a random session id', async () => {
      const client = await signIn();
      const line = client.setCookies.find((l) => l.startsWith('authchart.sid='))!;
      expect(line).toMatch(/^authchart\.sid=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Secure; Max-Age=2592000$/);
      for (const secret of issuedSecrets()) expect(line).not.toContain(secret);
      const me = await client.request(url(1, '/api/me'));
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ via: framework, upstream: { ok: true, path: '/api/me' } });
    });

    it(`${PARALLEL} parallel requests of one user after expiry, on both instances and through both routes: one token call, every request served with a valid token`, async () => {
      const client = await signIn();
      anHourLater();
      tokens.resetStats();
      upstream.seen.length = 0;
      const responses = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => client.request(url(i % 2, i % 4 < 2 ? '/api/me' : '/bff/me'))));
      const statuses = responses.map((r) => r.status);
      const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ ok?: boolean; upstream?: { ok: boolean } }>));
      const served = bodies.filter((body) => body.ok === true || body.upstream?.ok === true).length;
      console.log(
        `[figures] ${framework}: parallel=${PARALLEL} instances=2 tokenCalls=${tokens.stats.refreshCalls} failures=${statuses.filter((s) => s !== 200).length} upstream401=${upstream.seen.filter((s) => !s.authorized).length}`,
      );
      expect(statuses).toEqual(Array(PARALLEL).fill(200));
      expect(served).toBe(PARALLEL);
      expect(tokens.calls.map((c) => c.outcome)).toEqual(['rotated']);
      // The token was refreshed before use: the API never saw an expired one.
      expect(upstream.seen.every((s) => s.authorized)).toBe(true);
      expect(upstream.seen).toHaveLength(PARALLEL);
      // The session is alive and needs no other call.
      const again = await client.request(url(1, '/bff/me'));
      expect(again.status).toBe(200);
      expect(tokens.stats.refreshCalls).toBe(1);
      expect(tokens.stats.reuseDetected).toBe(0);
    });

    it('req.authchart keeps its token out of logs (util.inspect, JSON)', async () => {
      const sessions = managers[0]!;
      const login = tokens.login();
      await sessions.login('sid-inspect', { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: now() + 60_000 });
      const { expressAuth } = await import('../../../adapters/server/index.js');
      const auth = expressAuth({ sessions, getSessionId: () => 'sid-inspect' });
      const req = { headers: {} } as unknown as import('node:http').IncomingMessage;
      const res = Object.assign(new (await import('node:events')).EventEmitter(), { writableEnded: false }) as unknown as import('node:http').ServerResponse;
      await new Promise<void>((resolve, reject) => auth.requireToken(req, res, (error) => (error ? reject(error) : resolve())));
      const attached = auth.of(req);
      expect(attached.accessToken).toBe(login.access_token);
      const { inspect } = await import('node:util');
      for (const printed of [
        inspect(attached),
        inspect({ req: { authchart: attached } }, { depth: 5 }),
        JSON.stringify(attached),
        JSON.stringify({ ...attached }),
      ]) {
        expect(printed).not.toContain(login.access_token);
      }
      expect(inspect(attached)).toContain('sid-inspect');
    });

    it('the proxy forwards method, query and body with the bearer token, and never cookies either way', async () => {
      const client = await signIn();
      upstream.seen.length = 0;
      const response = await client.request(url(0, '/bff/orders?page=2'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: apps[0]!.url, 'sec-fetch-site': 'same-origin' },
        body: JSON.stringify({ item: 'tea' }),
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        ok: true,
        method: 'POST',
        path: '/api/orders',
        query: '?page=2',
        body: '{"item":"tea"}',
        contentType: 'application/json',
      });
      expect(upstream.seen).toEqual([{ method: 'POST', path: '/api/orders', cookie: false, authorized: true }]);
      expect(response.headers.getSetCookie()).toEqual([]);
      expect(response.headers.get('x-upstream-secret')).toBeNull();
    });

    it('refuses cross-site requests to the proxy (403 csrf_rejected) before they reach the API', async () => {
      const client = await signIn();
      upstream.seen.length = 0;
      const crossSite: Record<string, string>[] = [
        { 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' },
        { 'sec-fetch-site': 'same-site', origin: 'http://sub.127.0.0.1' },
        { origin: 'http://evil.example' },
        { 'sec-fetch-site': 'cross-site' }, // a top-level GET navigation from another site: Lax still sends the cookie
      ];
      for (const headers of crossSite) {
        const response = await client.request(url(1, '/bff/orders'), { method: 'GET', headers });
        expect(response.status).toBe(403);
        expect(await response.json()).toEqual({ error: 'csrf_rejected' });
      }
      expect(upstream.seen).toEqual([]);
      const typed = await client.request(url(1, '/bff/orders'), { headers: { 'sec-fetch-site': 'none' } });
      expect(typed.status).toBe(200);
    });

    it('auth.csrf() guards your own routes: a cross-site sign-out is refused and the session kept', async () => {
      const client = await signIn();
      const refused = await client.request(url(0, '/logout'), { method: 'POST', headers: { 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' } });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({ error: 'csrf_rejected' });
      expect((await client.request(url(1, '/api/me'))).status).toBe(200);
      const own = await client.request(url(0, '/logout'), { method: 'POST', headers: { 'sec-fetch-site': 'same-origin', origin: apps[0]!.url } });
      expect(own.status).toBe(204);
    });

    it('refuses a path that would leave the API (400 bad_request)', async () => {
      const client = await signIn();
      upstream.seen.length = 0;
      // Sent raw: fetch would normalise the dot segments away before sending.
      const status = await new Promise<number>((resolve, reject) => {
        const target = new URL(url(0, '/'));
        const req = httpRequest({ host: target.hostname, port: target.port, path: '/bff/%2e%2e/admin', headers: { cookie: client.cookie! } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.once('error', reject);
        req.end();
      });
      expect(status).toBe(400);
      expect(upstream.seen).toEqual([]);
    });

    it('answers 401 not_signed_in without a session and 401 session_expired for an ended one', async () => {
      const anonymous = new Client();
      for (const path of ['/api/me', '/bff/me']) {
        const response = await anonymous.request(url(0, path));
        expect(response.status).toBe(401);
        expect(await response.json()).toEqual({ error: 'not_signed_in' });
      }
      const client = await signIn();
      const cookie = client.cookie!;
      const out = await client.request(url(1, '/logout'), { method: 'POST' });
      expect(out.status).toBe(204);
      expect(client.cookie).toBeNull();
      expect(client.setCookies.at(-1)).toMatch(/^authchart\.sid=; .*Max-Age=0/);
      for (const instance of [0, 1]) {
        const response = await fetch(url(instance, '/api/me'), { headers: { cookie } });
        expect(response.status).toBe(401);
        expect(await response.json()).toEqual({ error: 'session_expired', code: 'SESSION_EXPIRED' });
      }
    });

    it('answers 503 unavailable with Retry-After while the token endpoint fails, and keeps the session', async () => {
      const client = await signIn();
      anHourLater();
      tokens.resetStats();
      tokens.fault(...Array.from({ length: 4 }, () => ({ type: 'unavailable' as const })));
      const responses = await Promise.all([client.request(url(0, '/api/me')), client.request(url(0, '/bff/me'))]);
      for (const response of responses) {
        expect(response.status).toBe(503);
        expect(response.headers.get('retry-after')).toBe('1');
        expect(await response.json()).toEqual({ error: 'unavailable', code: 'REFRESH_UNAVAILABLE' });
      }
      expect(tokens.stats.refreshCalls).toBe(4); // the first try and 3 retries, shared by both requests
      const later = await client.request(url(1, '/api/me'));
      expect(later.status).toBe(200);
      expect(tokens.calls.at(-1)!.outcome).toBe('rotated');
    });

    it('answers 503 unavailable with Retry-After when Redis is down, with no secret in the body (last: it stops Redis)', async () => {
      const client = await signIn();
      await redis.server.kill();
      for (const path of ['/api/me', '/bff/me']) {
        const response = await client.request(url(1, path));
        expect(response.status).toBe(503);
        expect(response.headers.get('retry-after')).toBe('1');
        const body = await response.text();
        expect(JSON.parse(body)).toEqual({ error: 'unavailable', code: 'REDIS_UNAVAILABLE' });
        for (const secret of issuedSecrets()) expect(body).not.toContain(secret);
      }
    });
  });
}
