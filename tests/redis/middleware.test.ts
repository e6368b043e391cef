/**
 * The `ensureValidToken` example middleware, served by node:http: two app instances on one
 * Redis, in front of the rotating token server's API.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureValidToken } from '../../examples/express-middleware.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { redisSessionManager, redisStore } from '../../adapters/redis/index.js';
import type { SessionManager } from '../../adapters/server/session-manager.js';
import { startTestServers, type TestServers } from '../../adapters/testing/node-server.js';
import { createTokenServer, issuedSecrets, type TokenServer } from '../../adapters/testing/token-server.js';
import { uniquePrefix, useRedis, type Connection } from './support/clients.js';

const redis = useRedis();
const prefix = uniquePrefix();
let server: TokenServer;
let servers: TestServers;
const apps: { url: string; http: Server; sessions: SessionManager; connection: Connection }[] = [];

const sessionIdOf = (req: IncomingMessage) => /(?:^|;\s*)sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];

async function startApp(kind: 'node-redis' | 'ioredis') {
  const connection = await redis.connectTo(kind);
  const sessions = redisSessionManager({
    client: connection.client,
    subscriber: connection.subscriber,
    prefix,
    operationTimeoutMs: 300,
    refresh: oauthRefresher({ tokenEndpoint: servers.tokenEndpoint, clientId: 'authchart-tests' }),
  });
  const middleware = ensureValidToken({ sessions, getSessionId: sessionIdOf });
  const http = createServer((req, res) => {
    middleware(req, res, async (error) => {
      if (error) {
        res.writeHead(500).end();
        return;
      }
      const token = (req as IncomingMessage & { upstreamToken: string }).upstreamToken;
      const upstream = await fetch(`${servers.api}/me`, { headers: { authorization: `Bearer ${token}` } });
      res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text());
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, http, sessions, connection };
}

async function signIn(sessionId: string, expiresAt = Date.now() + 60_000) {
  const login = server.login();
  await apps[0]!.sessions.login(sessionId, { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt });
}

const get = (app: number, sid?: string) => fetch(`${apps[app]!.url}/me`, { headers: sid ? { cookie: `theme=dark; sid=${sid}` } : {} });

beforeAll(async () => {
  server = createTokenServer({ accessTokenTtlSeconds: 60 });
  servers = await startTestServers(server);
  apps.push(await startApp('node-redis'), await startApp('ioredis'));
});

afterAll(async () => {
  for (const app of apps) {
    app.http.closeAllConnections();
    await new Promise((resolve) => app.http.close(resolve));
    await app.sessions.dispose();
  }
  await servers?.close();
});

describe('ensureValidToken (example middleware)', () => {
  it('puts a valid upstream token on req: the API call succeeds', async () => {
    await signIn('sid-alice');
    const response = await get(0, 'sid-alice');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ok: true, path: '/api/me' });
  });

  it('an expired session hit on both app instances at once is refreshed once', async () => {
    await signIn('sid-bob', Date.now() - 1000);
    server.expireAccessTokens();
    server.resetStats();
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => get(i % 2, 'sid-bob')));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(server.stats.refreshCalls).toBe(1);
  });

  it('answers 401 when signed out or when the session is unknown', async () => {
    const held = apps[1]!.sessions.size;
    const none = await get(0);
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: 'not_signed_in' });
    const unknown = await get(1, 'sid-nobody');
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toEqual({ error: 'session_expired' });
    expect(apps[1]!.sessions.size).toBe(held); // unknown ids are not kept in memory
  });

  it('answers 401 after a logout made on the other instance', async () => {
    await signIn('sid-carol');
    expect((await get(1, 'sid-carol')).status).toBe(200);
    await apps[0]!.sessions.logout('sid-carol');
    expect(await redisStore({ client: apps[0]!.connection.client, sessionId: 'sid-carol', prefix }).get()).toBeNull();
    // The other instance heard it (pub/sub) and dropped the session.
    const deadline = Date.now() + 2000;
    let status = 0;
    while (Date.now() < deadline && (status = (await get(1, 'sid-carol')).status) !== 401) await new Promise((r) => setTimeout(r, 20));
    expect(status).toBe(401);
  });

  it('answers 503 with a code, never a token, when Redis is down (last: it stops Redis)', async () => {
    await signIn('sid-dave');
    await redis.server.kill();
    const response = await get(1, 'sid-dave');
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ error: 'REDIS_UNAVAILABLE' });
    for (const secret of issuedSecrets()) expect(body).not.toContain(secret);
  });
});
