/** The session manager on PostgreSQL: memory follows the active users, and a pool can end after dispose. */
import { describe, expect, it } from 'vitest';
import type { Refresher } from '../../adapters/core/ports.js';
import { postgresSessionManager, postgresStore } from '../../adapters/postgres/index.js';
import { notificationHubFor } from '../../adapters/postgres/notifications.js';
import { eventually } from '../support/contract/token-store.js';
import { usePostgres } from './support/pg.js';

const postgres = usePostgres();
const { tablePrefix } = postgres;
const refresh: Refresher = async () => {
  throw new Error('no refresh expected in this test');
};

describe('postgresSessionManager', () => {
  it('holds at most maxSessions in memory, leaves no listener behind for dropped sessions, and lets the pool end after dispose', async () => {
    const pool = postgres.pool();
    const hub = notificationHubFor(pool, true, `${tablePrefix}events`);
    const sessions = postgresSessionManager({ pool, tablePrefix, refresh, maxSessions: 20 });
    for (let i = 0; i < 100; i++) await sessions.login(`user-${i}`, { accessToken: `at-${i}`, refreshToken: `rt-${i}`, expiresAt: Date.now() + 60_000 });
    for (let i = 0; i < 100; i++) {
      expect(await sessions.getValidAccessToken(`user-${i}`)).toBe(`at-${i}`);
      expect(sessions.size).toBeLessThanOrEqual(20);
    }
    expect(hub.size).toBe(20);
    await sessions.dispose();
    expect(hub.size).toBe(0);
    // No client left checked out for LISTEN: the pool ends.
    await pool.end();
  });

  it('another instance’s login reaches a session held in memory (NOTIFY), and logout clears it for every instance', async () => {
    const [a, b] = [postgres.pool(), postgres.pool()];
    const one = postgresSessionManager({ pool: a, tablePrefix, refresh });
    const two = postgresSessionManager({ pool: b, tablePrefix, refresh });
    await one.login('shared', { accessToken: 'at-1', refreshToken: 'rt-1', expiresAt: Date.now() + 60_000 });
    expect(await two.getValidAccessToken('shared')).toBe('at-1');
    // The second instance's LISTEN is active (a NOTIFY sent before would be missed: then it
    // adopts at its next refresh, which this test does not wait for).
    await eventually(() => notificationHubFor(b, true, `${tablePrefix}events`).connected);
    await one.login('shared', { accessToken: 'at-2', refreshToken: 'rt-2', expiresAt: Date.now() + 60_000 });
    const deadline = Date.now() + 3000;
    while ((await two.getValidAccessToken('shared')) !== 'at-2' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await two.getValidAccessToken('shared')).toBe('at-2');
    await one.logout('shared');
    expect(await postgresStore({ pool: a, sessionId: 'shared', tablePrefix, listen: false }).get()).toBeNull();
    await Promise.all([one.dispose(), two.dispose()]);
  });
});
