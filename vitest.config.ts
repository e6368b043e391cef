import { defineConfig } from 'vitest/config';

// Three groups, one after the other (sequence.groupOrder):
// 0. `unit`: everything that runs in this process with fake timers, msw or an in-process
//    server; two files at a time (vitest's default on 2 cores is one).
// 1. `servers`: suites that drive real servers and browsers (Chromium, Next.js, Redis,
//    oidc-provider, child processes) and whose margins are in real time: one file at a time,
//    alone, so they never compete with the unit files for the cores.
// 2. Suites that need a server of their own (a Redis Cluster, PostgreSQL): projects with a
//    global setup that starts it once per run; a project whose files are not selected does
//    not start its server.
const ownServers = ['tests/redis-cluster/**', 'tests/postgres/**'];
const realServers = ['tests/browser/**', 'tests/examples/**', 'tests/e2e/**', 'tests/redis/**', 'tests/server/**', 'tests/package/**', 'tests/demo.test.ts'];

export default defineConfig({
  test: {
    environment: 'node',
    testTimeout: 20_000,
    restoreMocks: true,
    unstubGlobals: true,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['tests/**/*.test.{ts,tsx}'], exclude: [...ownServers, ...realServers], maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: 'servers',
          include: realServers.map((glob) => (glob.endsWith('**') ? `${glob}/*.test.{ts,tsx}` : glob)),
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'redis-cluster',
          include: ['tests/redis-cluster/**/*.test.ts'],
          globalSetup: ['tests/redis-cluster/global-setup.ts'],
          // One file at a time: the failover test kills a primary of the shared cluster.
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['tests/postgres/**/*.test.ts'],
          globalSetup: ['tests/postgres/global-setup.ts'],
          // One file at a time: a test stops and starts the shared server.
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
