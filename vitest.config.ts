import { defineConfig } from 'vitest/config';

// Suites that need a server of their own (a Redis Cluster, PostgreSQL) are projects with a
// global setup that starts it once per run; a project whose files are not selected does not
// start its server. They run after the others (sequence.groupOrder), so their servers and
// worker processes do not compete for the cores with the suites that measure time.
const ownServers = ['tests/redis-cluster/**', 'tests/postgres/**'];

export default defineConfig({
  test: {
    environment: 'node',
    testTimeout: 20_000,
    restoreMocks: true,
    unstubGlobals: true,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['tests/**/*.test.{ts,tsx}'], exclude: ownServers, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: 'redis-cluster',
          include: ['tests/redis-cluster/**/*.test.ts'],
          globalSetup: ['tests/redis-cluster/global-setup.ts'],
          // One file at a time: the failover test kills a primary of the shared cluster.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
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
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
