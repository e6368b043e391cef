import { defineConfig } from 'vitest/config';

// Two files at a time where a project allows it (vitest's default on 2 cores is one):
// - `unit`: everything that runs in this process with fake timers, msw or an in-process
//   server (sequence.groupOrder 0: first).
// - one file at a time each: `browsers` (Chromium, Next.js), `servers` (oidc-provider, Redis,
//   Express, Fastify, child processes), and the suites that need a server of their own,
//   started once per run by a global setup (`redis-cluster`, `postgres`; a project whose
//   files are not selected does not start its server). Their margins are in real time and
//   hold on a machine kept busy by a CPU hog (`npm run test:busy`). `npm test`
//   (scripts/test.mjs) runs `unit`, `browsers`, and the three others in three vitest
//   processes side by side; `npx vitest run` runs them one after the other.
const ownServers = ['tests/redis-cluster/**', 'tests/postgres/**'];
const browsers = ['tests/browser/**', 'tests/examples/**'];
const realServers = ['tests/e2e/**', 'tests/redis/**', 'tests/server/**', 'tests/package/**', 'tests/demo.test.ts'];
const files = (globs: string[]) => globs.map((glob) => (glob.endsWith('**') ? `${glob}/*.test.{ts,tsx}` : glob));

export default defineConfig({
  test: {
    environment: 'node',
    testTimeout: 20_000,
    // Two files at a time where a project allows it (vitest's default on 2 cores is one).
    maxWorkers: 2,
    restoreMocks: true,
    unstubGlobals: true,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['tests/**/*.test.{ts,tsx}'], exclude: [...ownServers, ...browsers, ...realServers], sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'browsers', include: files(browsers), fileParallelism: false, sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        test: { name: 'servers', include: files(realServers), fileParallelism: false, sequence: { groupOrder: 1 } },
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
