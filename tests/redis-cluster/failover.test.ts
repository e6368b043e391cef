/**
 * A primary of the Cluster dies (SIGKILL) while the refresh of a session it serves is in
 * flight; its replica is promoted. Two instances (session managers with their own
 * connections) wait on the session meanwhile. The token server is strict (a refresh token
 * presented twice revokes the family) and slow, so the kill lands during the token call.
 *
 * The killed node is started again afterwards (it rejoins as a replica) and the file waits
 * until the cluster is whole before the next scenario or file.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { redisSessionManager, redisStore } from '../../adapters/redis/index.js';
import { sessionKeys } from '../../adapters/redis/keys.js';
import type { SessionManager } from '../../adapters/server/session-manager.js';
import { startTestServers, type TestServers } from '../../adapters/testing/node-server.js';
import { createTokenServer, type TokenServer } from '../../adapters/testing/token-server.js';
import { eventually } from '../support/contract/token-store.js';
import { clusterNodes, healCluster, keySlot, killNode, primaryOf } from '../support/redis-cluster.js';
import { clientKinds, uniquePrefix, useCluster, type ClusterConnection } from './support/clients.js';

const cluster = useCluster();
const TOKEN_DELAY_MS = 1500;
const OPERATION_TIMEOUT_MS = 10_000;
const MAX_WAIT_MS = 20_000;
let server: TokenServer;
let servers: TestServers;

beforeAll(async () => {
  server = createTokenServer({ accessTokenTtlSeconds: 60 });
  servers = await startTestServers(server);
});

afterAll(async () => {
  await servers?.close();
});

// Whatever a scenario left behind, the next one (and the next file) gets a whole cluster.
afterEach(async () => {
  await healCluster(cluster.info);
}, 30_000);

function manager(connection: ClusterConnection, prefix: string): SessionManager {
  return redisSessionManager({
    client: connection.client,
    subscriber: connection.subscriber,
    prefix,
    operationTimeoutMs: OPERATION_TIMEOUT_MS,
    refresh: oauthRefresher({ tokenEndpoint: servers.tokenEndpoint, clientId: 'authchart-tests' }),
    lock: { ttlMs: 5000 },
    session: { maxWaitMs: MAX_WAIT_MS, lockTimeoutMs: MAX_WAIT_MS, backoffBaseMs: 200 },
  });
}

async function requests(sessions: SessionManager, sessionId: string, count: number) {
  return Promise.all(
    Array.from({ length: count }, async (_, n) => {
      try {
        const response = await sessions.withSession(sessionId, (session) =>
          createAuthFetch({ session, allowedOrigins: [servers.apiOrigin] })(`${servers.api}/items/${n}`),
        );
        await response.body?.cancel();
        return response.status === 200 ? 'ok' : `HTTP_${response.status}`;
      } catch (error) {
        return (error as { code?: string }).code ?? String(error);
      }
    }),
  );
}

for (const kind of clientKinds) {
  describe(`Redis Cluster failover (${kind})`, () => {
    it('a primary killed during a refresh: its replica takes over, no token is lost, one token call, every request succeeds', async () => {
      const prefix = uniquePrefix();
      const sessionId = `failover-${kind}`;
      const [a, b, admin] = await Promise.all([cluster.connect(kind), cluster.connect(kind), cluster.connect(kind)]);
      const instances = [manager(a, prefix), manager(b, prefix)];
      const login = server.login();
      await redisStore({ client: admin.client, sessionId, prefix }).set({
        accessToken: login.access_token,
        refreshToken: login.refresh_token,
        expiresAt: Date.now() - 1000,
      });
      server.expireAccessTokens();
      server.resetStats();
      server.fault({ type: 'delay', ms: TOKEN_DELAY_MS });

      const slot = await keySlot(cluster.info, sessionKeys(prefix, sessionId).tokens);
      const primary = await primaryOf(cluster.info, slot);
      const view = await clusterNodes(primary);
      const primaryId = view.find((n) => n.port === primary)!.id;
      const replica = view.find((n) => n.role === 'slave' && n.primaryId === primaryId);
      expect(replica).toBeDefined();

      const first = requests(instances[0]!, sessionId, 5);
      await eventually(() => server.calls.length === 1, 5000); // the refresh is in flight
      const second = requests(instances[1]!, sessionId, 5); // waits for the lock
      await new Promise((r) => setTimeout(r, 100));
      const killedAt = Date.now();
      await killNode(cluster.info, primary);

      const results = [...(await first), ...(await second)];
      const recoveredIn = Date.now() - killedAt;
      const promoted = (await clusterNodes(replica!.port)).find((n) => n.port === replica!.port);
      console.log(
        `[figures] cluster failover (${kind}): tokenCalls=${server.stats.refreshCalls} requestsSucceeded=${results.filter((r) => r === 'ok').length}/10 ` +
          `reuseDetected=${server.stats.reuseDetected} recoveredAfterKill=${recoveredIn}ms replica ${replica!.port} → ${promoted?.role}`,
      );
      expect(results).toEqual(Array(10).fill('ok'));
      expect(promoted?.role).toBe('master');
      expect(server.stats.refreshCalls).toBeGreaterThanOrEqual(1);
      expect(server.stats.refreshCalls).toBeLessThanOrEqual(2);
      expect(server.stats.reuseDetected).toBe(0);
      // No token lost: what the new primary holds is the live end of the family.
      const stored = await redisStore({ client: admin.client, sessionId, prefix }).get();
      expect(stored?.refreshToken).not.toBe(login.refresh_token);
      expect(server.isAlive(stored!.refreshToken!)).toBe(true);
      // Both instances go on without a token call.
      server.resetStats();
      expect(await requests(instances[0]!, sessionId, 2)).toEqual(['ok', 'ok']);
      expect(await requests(instances[1]!, sessionId, 2)).toEqual(['ok', 'ok']);
      expect(server.stats.refreshCalls).toBe(0);

      // Pub/sub on the new primary: a write by one instance reaches the other's listener.
      let heard = 0;
      const listening = redisStore({ client: a.client, subscriber: a.subscriber, sessionId, prefix }).subscribe!(() => heard++);
      const writer = redisStore({ client: b.client, subscriber: b.subscriber, sessionId, prefix });
      const deadline = Date.now() + 5000;
      while (heard === 0 && Date.now() < deadline) {
        await writer.set({ ...stored!, accessToken: `${stored!.accessToken}` });
        await new Promise((r) => setTimeout(r, 200));
      }
      console.log(`[figures] cluster failover (${kind}): a write after the failover heard by the other instance: ${heard > 0 ? 'yes' : 'no'}`);
      listening();
      // ioredis moves sharded subscriptions to the new primary. node-redis 5.x drops those of
      // a primary that died (it reloads the layout without them): that instance's stores hear
      // no more about the shard's sessions and adopt new tokens at their next refresh, and
      // its lock waiters poll (README, Redis Cluster). Requests above succeeded either way.
      if (kind === 'ioredis') expect(heard).toBeGreaterThan(0);

      await Promise.all(instances.map((instance) => instance.dispose()));
      // Started again, the old primary rejoins as a replica of the new one.
      await healCluster(cluster.info);
      expect((await clusterNodes(primary)).find((n) => n.port === primary)?.role).toBe('slave');
    }, 60_000);
  });
}
