import { afterAll, describe, expect, it } from 'vitest';
import type { TokenServer } from '../../adapters/testing/index.js';
import { createTokenServer, startTestServers } from '../../adapters/testing/node.js';
import { flaky, herd, runCell, startLab, tabs, type CellResult, type Lab, type Scenario } from '../../bench/scenarios.js';
import {
  authchartAxios,
  authchartFetch,
  authchartFetchNoDebounce,
  axiosAuthRefresh,
  failedQueue,
  naive,
  sharedPromise,
  type Strategy,
} from '../../bench/strategies.js';

// The benchmark must not measure broken peers (or a broken authchart): each strategy, on a
// small herd against the real HTTP token server, behaves as it does in the wild. Token
// calls take 200 ms here so that the races are certain, not likely. Counts only, no timing.
const labs: Lab[] = [];
async function cell(scenario: Scenario, strategy: Strategy): Promise<CellResult> {
  const lab = await startLab(3600, 200);
  labs.push(lab);
  return runCell(scenario.plan(strategy, 0, lab));
}

/**
 * A cell whose token calls are answered only once `n` requests got their 401 (or after
 * 30 s): on a busy machine the requests of a herd can spread over more than the token
 * call's 200 ms, and a late 401 would meet a hand-rolled mutex already released. Holding
 * the answer makes the race the same on any machine: every 401 arrives during the refresh.
 */
async function held(scenario: Scenario, n: number, strategy: Strategy): Promise<CellResult> {
  const server = createTokenServer({ accessTokenTtlSeconds: 3600 });
  const held = Object.create(server) as TokenServer;
  held.token = async (request, sleep) => {
    const until = Date.now() + 30_000;
    while (server.stats.resourceUnauthorized < n && Date.now() < until) await sleep(10);
    return server.token(request, sleep);
  };
  const lab: Lab = { server, http: await startTestServers(held), ttlSeconds: 3600, tokenLatencyMs: 0 };
  labs.push(lab);
  return runCell(scenario.plan(strategy, 0, lab));
}
afterAll(async () => {
  await Promise.all(labs.map((lab) => lab.http.close()));
});

describe.concurrent('the strategies the benchmark compares', { timeout: 60_000 }, () => {
  it.each([authchartFetch, authchartFetchNoDebounce, authchartAxios])(
    '$name: a herd of 20 makes one token call, every request succeeds, the session lives',
    async (strategy) => {
      const result = await cell(herd(20, 1), strategy);
      expect(result).toMatchObject({ tokenCalls: 1, ok: 20, failed: 0, reuseDetected: 0, alive: true, unauthorized: 20 });
    },
  );

  it.each([authchartFetch, authchartAxios])('$name: four tabs sharing a store and a lock make one token call', async (strategy) => {
    const result = await cell(tabs(1, 5), strategy);
    expect(result).toMatchObject({ tokenCalls: 1, ok: 20, failed: 0, alive: true });
  });

  it('naive: every 401 refreshes, the rotated token is reused, the session is revoked', async () => {
    const result = await cell(herd(20, 1), naive);
    expect(result.tokenCalls).toBeGreaterThan(1);
    expect(result.reuseDetected).toBeGreaterThan(0);
    expect(result.failed).toBeGreaterThan(0);
    expect(result.alive).toBe(false);
  });

  it.each([sharedPromise, failedQueue])('$name: one client survives a herd with one token call', async (strategy) => {
    const result = await held(herd(20, 1), 20, strategy);
    expect(result).toMatchObject({ tokenCalls: 1, ok: 20, failed: 0, alive: true });
  });

  it('axios-auth-refresh: one token call, but the 401s that arrive during the refresh are rejected', async () => {
    const result = await held(herd(20, 1), 20, axiosAuthRefresh);
    expect(result.tokenCalls).toBe(1);
    expect(result.failed).toBeGreaterThan(0);
    expect(result.alive).toBe(true);
  });

  it.each([naive, sharedPromise, failedQueue, axiosAuthRefresh])('$name: four tabs refresh each on their own and the session is revoked', async (strategy) => {
    // Every tab's first 401 arrives before any refresh is answered, as when tabs wake together.
    const result = await held(tabs(1, 5), 20, strategy);
    expect(result.tokenCalls).toBeGreaterThan(1);
    expect(result.reuseDetected).toBeGreaterThan(0);
    expect(result.alive).toBe(false);
  });

  it.each([sharedPromise, failedQueue, axiosAuthRefresh])('$name: a failed refresh (503) logs the user out', async (strategy) => {
    const result = await cell(flaky(1, 5), strategy);
    expect(result.ok).toBe(0);
    expect(result.alive).toBe(false);
  });

  it('naive: a failed refresh (503) ends the session (logged out, or revoked by the reuse of a later refresh)', async () => {
    // Each 401 refreshes: the first two token calls fail, a later one may rotate, and the one
    // after it presents the rotated token. Whether a request slips through in between depends
    // on timing (at most one does); the session never survives.
    const result = await cell(flaky(1, 5), naive);
    expect(result.ok).toBeLessThanOrEqual(1);
    expect(result.alive).toBe(false);
  });
});
