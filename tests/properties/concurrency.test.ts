/**
 * Concurrency properties: random schedules of requests, 401s, refresh outcomes, aborts,
 * logouts and logins, played against createAuthFetch and the rotating token server under
 * fake timers. `AUTHCHART_PROPERTY_RUNS=20000 npx vitest run tests/properties` runs more.
 */
import { describe, expect } from 'vitest';
import { test } from '@fast-check/vitest';
import { useMockNetwork } from '../support/harness.js';
import { runSchedule, scheduleArbitrary } from './schedule.js';

useMockNetwork();

const runs = Number(process.env.AUTHCHART_PROPERTY_RUNS ?? 1_000);
const graceRuns = Math.max(100, Math.round(runs / 5));

describe('concurrency invariants on random schedules', () => {
  test.prop([scheduleArbitrary], { numRuns: runs })(
    'a strict rotating server: one refresh in flight, no rotated-away token presented except after a lost response, every request settles once, logout exactly on three permanent failures or logout()',
    async (schedule) => {
      const report = await runSchedule(schedule);
      expect(report.violations).toEqual([]);
    },
    600_000,
  );

  // A lost response (rotated, then the connection dropped) makes the next refresh present
  // the old token. A grace-period server (Auth0 reuse interval, Okta 30 s) answers it with
  // the family's current tokens: the session survives.
  const withLostResponse = scheduleArbitrary.filter((s) => s.outcomes.some((o) => o.kind === 'lostResponse'));
  test.prop([withLostResponse], { numRuns: graceRuns })(
    'a server with a reuse grace period never sees a reuse after a lost response',
    async (schedule) => {
      const report = await runSchedule(schedule, { reuseGraceMs: 60_000 });
      expect(report.violations).toEqual([]);
    },
    600_000,
  );
});
