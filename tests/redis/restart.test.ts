/**
 * Redis goes away (SIGKILL) and comes back on the same port, with its append-only file, while
 * two instances (node-redis and ioredis) serve four sessions. Requests either succeed or
 * fail with a typed error within their bound; afterwards every session works and holds its
 * own, live tokens.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAuthchartError } from '../../adapters/core/errors.js';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { redisLock, redisSessionManager, redisStore } from '../../adapters/redis/index.js';
import type { SessionManager } from '../../adapters/server/session-manager.js';
import { startTestServers, type TestServers } from '../../adapters/testing/node-server.js';
import { createTokenServer, issuedSecrets, type TokenServer } from '../../adapters/testing/token-server.js';
import { uniquePrefix, useRedis, type Connection } from './support/clients.js';

const redis = useRedis({ persist: true });
const MAX_WAIT_MS = 6000;
const OPERATION_TIMEOUT_MS = 400;
const sessions = ['s0', 's1', 's2', 's3'];
let server: TokenServer;
let servers: TestServers;
let connections: Connection[];
let managers: SessionManager[];
const prefix = uniquePrefix();
const families = new Map<string, string>();
const initialRefresh = new Map<string, string>();

beforeAll(async () => {
  server = createTokenServer({ accessTokenTtlSeconds: 60 });
  servers = await startTestServers(server);
  connections = [await redis.connectTo('node-redis'), await redis.connectTo('ioredis')];
  managers = connections.map((connection) =>
    redisSessionManager({
      client: connection.client,
      subscriber: connection.subscriber,
      prefix,
      operationTimeoutMs: OPERATION_TIMEOUT_MS,
      refresh: oauthRefresher({ tokenEndpoint: servers.tokenEndpoint, clientId: 'authchart-tests' }),
      lock: { ttlMs: 2000 },
      session: { backoffBaseMs: 300, maxWaitMs: MAX_WAIT_MS, lockTimeoutMs: 3000 },
    }),
  );
  for (const sessionId of sessions) {
    const login = server.login();
    const check = server.authenticate(`Bearer ${login.access_token}`);
    families.set(sessionId, check.ok ? check.family : '');
    initialRefresh.set(sessionId, login.refresh_token);
    await managers[0]!.login(sessionId, { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + 60_000 });
  }
  // Both instances hold every session in memory.
  for (const manager of managers) for (const sessionId of sessions) await manager.getValidAccessToken(sessionId);
});

afterAll(async () => {
  await Promise.all(managers?.map((manager) => manager.dispose()) ?? []);
  await servers?.close();
});

type Outcome = { status: number } | { code: string } | { untyped: unknown };
async function request(manager: SessionManager, sessionId: string): Promise<Outcome & { ms: number }> {
  const started = Date.now();
  try {
    const response = await manager.withSession(sessionId, (session) => createAuthFetch({ session, allowedOrigins: [servers.apiOrigin] })(`${servers.api}/me`));
    await response.body?.cancel();
    return { status: response.status, ms: Date.now() - started };
  } catch (error) {
    return isAuthchartError(error) ? { code: error.code, ms: Date.now() - started } : { untyped: error, ms: Date.now() - started };
  }
}

describe('Redis restarted mid-run', () => {
  it('typed errors or waits while it is down, no corruption, and work continues when it is back', async () => {
    await redis.server.kill();

    // Sessions already in memory with valid tokens need no Redis.
    expect(await Promise.all(managers.map((m) => m.getValidAccessToken('s0')))).toHaveLength(2);

    // A session not in memory cannot be loaded: a typed error within the operation bound.
    for (const manager of managers) {
      const started = Date.now();
      const error = await manager.getValidAccessToken('not-loaded').catch((e: unknown) => e);
      expect(isAuthchartError(error, 'REDIS_UNAVAILABLE')).toBe(true);
      expect(Date.now() - started).toBeLessThan(OPERATION_TIMEOUT_MS + 500);
      for (const secret of issuedSecrets()) expect(inspect(error, { depth: 10 })).not.toContain(secret);
    }
    // The store and the lock themselves say the same, for both clients.
    for (const { client } of connections) {
      const store = redisStore({ client, sessionId: 's1', prefix, operationTimeoutMs: 300 });
      await expect(store.get()).rejects.toMatchObject({ code: 'REDIS_UNAVAILABLE' });
      await expect(store.set({ accessToken: 'x' })).rejects.toMatchObject({ code: 'REDIS_UNAVAILABLE' });
      const lock = redisLock({ client, sessionId: 's1', prefix, operationTimeoutMs: 300 });
      await expect(lock.acquire({ signal: new AbortController().signal, timeoutMs: 1000 })).rejects.toMatchObject({ code: 'REDIS_UNAVAILABLE' });
    }

    // Every access token expires now: each request needs a refresh, through the lock.
    server.expireAccessTokens();
    server.resetStats();
    const during = Promise.all(managers.flatMap((manager) => sessions.flatMap((sessionId) => [request(manager, sessionId), request(manager, sessionId)])));
    await new Promise((r) => setTimeout(r, 800));
    expect(server.stats.refreshCalls).toBe(0); // nothing refreshes without the lock
    await redis.server.start();
    const outcomes = await during;

    const succeeded = outcomes.filter((o) => 'status' in o && o.status === 200).length;
    const typed = outcomes.filter((o) => 'code' in o).map((o) => (o as { code: string }).code);
    console.log(
      `[figures] redis restart: instances=2 sessions=${sessions.length} requests=${outcomes.length} succeeded=${succeeded} typedErrors=${JSON.stringify(typed)} tokenCalls=${server.stats.refreshCalls} slowest=${Math.max(...outcomes.map((o) => o.ms))}ms`,
    );
    expect(outcomes.filter((o) => 'untyped' in o)).toEqual([]);
    expect(succeeded + typed.length).toBe(outcomes.length);
    for (const code of typed) expect(['REDIS_UNAVAILABLE', 'REFRESH_UNAVAILABLE', 'LOCK_TIMEOUT', 'QUEUE_TIMEOUT']).toContain(code);
    expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(MAX_WAIT_MS + 1000);

    // Work continues: every session, on both instances.
    const after = await Promise.all(managers.flatMap((manager) => sessions.map((sessionId) => request(manager, sessionId))));
    expect(after.map((o) => ('status' in o ? o.status : o))).toEqual(Array(after.length).fill(200));

    // No corruption: one refresh per session across both instances, each session holds its
    // own family's live tokens, and the two instances agree.
    expect(server.calls.map((c) => c.outcome)).toEqual(Array(sessions.length).fill('rotated'));
    expect(server.calls.map((c) => c.refreshToken).sort()).toEqual([...initialRefresh.values()].sort());
    for (const sessionId of sessions) {
      const stored = await redisStore({ client: connections[0]!.client, sessionId, prefix }).get();
      expect(server.isAlive(stored!.refreshToken!)).toBe(true);
      const check = server.authenticate(`Bearer ${stored!.accessToken}`);
      expect(check.ok && check.family).toBe(families.get(sessionId));
      const tokens = await Promise.all(managers.map((m) => m.getValidAccessToken(sessionId)));
      expect(tokens).toEqual([stored!.accessToken, stored!.accessToken]);
    }
  });
});
