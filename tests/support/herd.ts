/**
 * The multi-process herd, for any shared store and lock: 4 Node child processes, each its
 * own session manager, against the rotating token server over HTTP (strict reuse detection:
 * a second refresh with the same refresh token would revoke the session).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenStore } from '../../adapters/core/ports.js';
import { startTestServers, type TestServers } from '../../adapters/testing/node-server.js';
import { createTokenServer, type TokenServer } from '../../adapters/testing/token-server.js';
import type { DriverConfig } from './instance-worker.js';
import { percentile, startInstance, type Instance } from './instances.js';

export interface HerdOptions {
  /** What the instances share, as the figures name it: 'one Redis', 'a Redis Cluster', … */
  name: string;
  /** The driver of instance `i` (0-3). */
  driver(i: number): DriverConfig;
  /** A store of the same sessions, in this process (to sign sessions in and check them). */
  store(sessionId: string): TokenStore;
}

const PROCESSES = 4;
// How long a request (and a lock wait) may take, and the lock's lease: far above what a
// quiet machine needs (under a second), so the figures hold with every core busy. A lease
// shorter than the longest stall of its holder (a starved event loop, a saturated pool) lets
// a second instance refresh with the same refresh token; README, "Lock TTL vs a longer
// refresh". No holder dies here, so a long lease costs nothing.
const MAX_WAIT_MS = 20_000;
const LOCK_TTL_MS = 15_000;

const tally = (values: string[]) => {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
};

export function describeInstancesHerd(options: HerdOptions): void {
  let server: TokenServer;
  let servers: TestServers;
  let instances: Instance[] = [];

  beforeAll(async () => {
    server = createTokenServer({ accessTokenTtlSeconds: 60 });
    servers = await startTestServers(server);
    instances = await Promise.all(
      Array.from({ length: PROCESSES }, (_, i) =>
        startInstance({
          driver: options.driver(i),
          tokenEndpoint: servers.tokenEndpoint,
          api: servers.api,
          apiOrigin: servers.apiOrigin,
          lockTtlMs: LOCK_TTL_MS,
          maxWaitMs: MAX_WAIT_MS,
        }),
      ),
    );
  }, 90_000);

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    await servers?.close();
  });

  /** Sign `sessionId` in and store its tokens as already expired. Returns the refresh token. */
  async function expiredSession(sessionId: string): Promise<string> {
    const login = server.login();
    await options.store(sessionId).set({ accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() - 1000 });
    return login.refresh_token;
  }

  describe(`${PROCESSES} instances (child processes) on ${options.name}`, () => {
    it('25 concurrent requests each for one expired session: exactly one token call, 100/100 succeed', async () => {
      const initial = await expiredSession('herd-session');
      server.expireAccessTokens();
      server.resetStats();
      const started = Date.now();
      const results = await Promise.all(instances.map((instance) => instance.run(['herd-session'], 25)));
      const elapsed = Date.now() - started;
      const ok = results.reduce((n, r) => n + r.ok, 0);
      const lockWaits = results.flatMap((r) => r.lockWaitMs);
      const requestMs = results.flatMap((r) => r.requestMs);
      console.log(
        `[figures] one session on ${options.name}: processes=${PROCESSES} sessions=1 tokenCalls=${server.stats.refreshCalls} ` +
          `requestsSucceeded=${ok}/${PROCESSES * 25} lockWaitP99=${percentile(lockWaits, 99).toFixed(1)}ms (n=${lockWaits.length}) ` +
          `requestP99=${percentile(requestMs, 99).toFixed(1)}ms wall=${elapsed}ms`,
      );
      expect(results.flatMap((r) => r.errors)).toEqual([]);
      expect(ok).toBe(100);
      expect(server.stats.refreshCalls).toBe(1);
      expect(server.calls.map((c) => c.outcome)).toEqual(['rotated']);
      expect(server.calls[0]!.refreshToken).toBe(initial);
      // Every instance took part: each one's session refreshed or adopted under the lock.
      expect(results.every((r) => r.ok === 25)).toBe(true);
      const stored = await options.store('herd-session').get();
      expect(server.isAlive(stored!.refreshToken!)).toBe(true);
    });

    it('50 sessions at once from 4 instances: one token call per session, every request succeeds', async () => {
      const sessions = Array.from({ length: 50 }, (_, i) => `user-${i}`);
      const initial = new Map<string, string>();
      for (const sessionId of sessions) initial.set(sessionId, await expiredSession(sessionId));
      server.expireAccessTokens();
      server.resetStats();
      const started = Date.now();
      const results = await Promise.all(instances.map((instance) => instance.run(sessions, 2)));
      const elapsed = Date.now() - started;
      const ok = results.reduce((n, r) => n + r.ok, 0);
      const lockWaits = results.flatMap((r) => r.lockWaitMs);
      const requestMs = results.flatMap((r) => r.requestMs);
      console.log(
        `[figures] many sessions on ${options.name}: processes=${PROCESSES} sessions=${sessions.length} tokenCalls=${server.stats.refreshCalls} ` +
          `requestsSucceeded=${ok}/${PROCESSES * sessions.length * 2} lockWaitP99=${percentile(lockWaits, 99).toFixed(1)}ms (n=${lockWaits.length}) ` +
          `requestP99=${percentile(requestMs, 99).toFixed(1)}ms wall=${elapsed}ms outcomes=${JSON.stringify(tally(server.calls.map((c) => c.outcome)))} ` +
          `refreshFailures=${JSON.stringify(tally(results.flatMap((r) => r.refreshFailures)))}`,
      );
      expect(results.flatMap((r) => r.errors)).toEqual([]);
      expect(ok).toBe(PROCESSES * sessions.length * 2);
      expect(server.stats.refreshCalls).toBe(50);
      expect(server.calls.every((c) => c.outcome === 'rotated')).toBe(true);
      // One call per session: each session's refresh token was presented exactly once.
      const presented = server.calls.map((c) => c.refreshToken).sort();
      expect(presented).toEqual([...initial.values()].sort());
      for (const sessionId of sessions) {
        const stored = await options.store(sessionId).get();
        expect(server.isAlive(stored!.refreshToken!)).toBe(true);
      }
    });
  });
}
