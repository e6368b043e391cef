#!/usr/bin/env node
// `npm run soak`: the long chaos soak (about 3 minutes of episodes; not part of `npm test`,
// which runs the short one). Prints the seed first and the table at the end; exits non-zero
// if any invariant was violated.
//   AUTHCHART_SOAK_SEED=<n>       play that run again (the seed is printed)
//   AUTHCHART_SOAK_EPISODES=<n>   run exactly n episodes (one simulated hour each)
//   AUTHCHART_SOAK_FROM=<n>       start at episode n (with AUTHCHART_SOAK_EPISODES=1: replay that one)
//   AUTHCHART_SOAK_BUDGET_MS=<ms> wall-clock budget for starting episodes (default 180000)
//   AUTHCHART_SOAK_TRACE=1        print the last events before each violation
import { spawnSync } from 'node:child_process';

const result = spawnSync('npx', ['vitest', 'run', 'tests/soak/soak.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, AUTHCHART_SOAK: 'long' },
});
process.exit(result.status ?? 1);
