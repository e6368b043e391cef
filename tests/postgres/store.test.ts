import { describe, expect, it } from 'vitest';
import { isAuthchartError } from '../../adapters/core/errors.js';
import { deleteExpiredSessions, ensurePostgresSchema, postgresLock, postgresStore } from '../../adapters/postgres/index.js';
import { notificationHubFor } from '../../adapters/postgres/notifications.js';
import { hashedSessionId } from '../../adapters/server/session-id.js';
import { describeTokenStoreContract, eventually } from '../support/contract/token-store.js';
import { uniqueTablePrefix, usePostgres } from './support/pg.js';

const postgres = usePostgres();
const { tablePrefix } = postgres;
let sessions = 0;

describeTokenStoreContract({
  name: 'postgres (pg, LISTEN/NOTIFY)',
  async create() {
    // Two pools: the peer is another instance.
    const [mine, theirs] = [postgres.pool(), postgres.pool()];
    const sessionId = `session-${++sessions}`;
    return {
      store: postgresStore({ pool: mine, sessionId, tablePrefix }),
      peer: postgresStore({ pool: theirs, sessionId, tablePrefix }),
      other: postgresStore({ pool: mine, sessionId: `${sessionId}-other`, tablePrefix }),
    };
  },
});

const tokens = { accessToken: 'at-secret-1', refreshToken: 'rt-secret-1', expiresAt: 1_900_000_000_000 };
const catching = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
};

describe('postgresStore', () => {
  it('keeps a session in one row whose id hides the session id, with the version in its own column', async () => {
    const pool = postgres.pool();
    const sessionId = 'user-42@example.com';
    const written = await postgresStore({ pool, sessionId, tablePrefix }).set(tokens);
    const { rows } = await pool.query(`SELECT id, version, record FROM "${tablePrefix}tokens" WHERE id = $1`, [hashedSessionId(sessionId, 'test')]);
    expect(rows).toHaveLength(1);
    expect(rows[0].id).not.toContain('user-42');
    expect(Number(rows[0].version)).toBe(written!.version);
    expect(rows[0].record).toEqual({ format: 1, ...tokens });
  });

  it('reads corrupt or foreign data as "no tokens", and compare-and-set agrees (version 0)', async () => {
    const pool = postgres.pool();
    const store = postgresStore({ pool, sessionId: 'corrupt', tablePrefix });
    const id = hashedSessionId('corrupt', 'test');
    const corruptions = [
      '"a string"',
      '[]',
      JSON.stringify({ format: 2, accessToken: 'a' }),
      JSON.stringify({ format: 1, accessToken: 42 }),
      JSON.stringify({ format: 1, accessToken: '' }),
      JSON.stringify({ format: 1, accessToken: 'a', refreshToken: null }),
      JSON.stringify({ format: 1, accessToken: 'a', expiresAt: 'soon' }),
    ];
    for (const corruption of corruptions) {
      await pool.query(
        `INSERT INTO "${tablePrefix}tokens" (id, version, record) VALUES ($1, 7, $2::jsonb) ON CONFLICT (id) DO UPDATE SET version = 7, record = EXCLUDED.record, expires_at = NULL`,
        [id, corruption],
      );
      expect(await store.get(), corruption).toBeNull();
      const written = await store.set(tokens, { expectedVersion: 0 });
      expect(written, corruption).not.toBeNull();
      expect(written!.version).toBe(8);
      expect(await store.get()).toEqual(written);
    }
  });

  it('an expired record reads as "no tokens" and counts as empty; ttlMs sets the expiry on every write', async () => {
    const pool = postgres.pool();
    const expiresIn = async (sessionId: string) => {
      const { rows } = await pool.query(`SELECT extract(epoch FROM expires_at - now()) * 1000 AS ms FROM "${tablePrefix}tokens" WHERE id = $1`, [
        hashedSessionId(sessionId, 'test'),
      ]);
      return rows[0].ms === null ? null : Number(rows[0].ms);
    };
    await postgresStore({ pool, sessionId: 'ttl-default', tablePrefix }).set(tokens);
    expect(await expiresIn('ttl-default')).toBeGreaterThan(30 * 24 * 3600_000 - 60_000);
    const byTokens = postgresStore({ pool, sessionId: 'ttl-fn', tablePrefix, ttlMs: (t) => (t.refreshToken ? 120_000 : 10_000) });
    await byTokens.set(tokens);
    expect(await expiresIn('ttl-fn')).toBeGreaterThan(110_000);
    await byTokens.set({ accessToken: 'no-refresh' });
    expect(await expiresIn('ttl-fn')).toBeLessThanOrEqual(10_000);
    await postgresStore({ pool, sessionId: 'ttl-none', tablePrefix, ttlMs: () => null }).set(tokens);
    expect(await expiresIn('ttl-none')).toBeNull();

    const short = postgresStore({ pool, sessionId: 'ttl-short', tablePrefix, ttlMs: 1 });
    const first = await short.set(tokens);
    await new Promise((r) => setTimeout(r, 20));
    expect(await short.get()).toBeNull();
    expect(await short.set(tokens, { expectedVersion: first!.version })).toBeNull();
    const again = await short.set(tokens, { expectedVersion: 0 });
    expect(again!.version).toBeGreaterThan(first!.version);
  });

  it('deleteExpiredSessions deletes rows expired longer than graceMs ago, and nothing else', async () => {
    const pool = postgres.pool();
    // Tables of its own: the counts are table-wide.
    const tablePrefix = uniqueTablePrefix();
    await ensurePostgresSchema(pool, { tablePrefix });
    const ids = { old: 'expired-long-ago', recent: 'expired-just-now', live: 'live', forever: 'no-expiry' };
    for (const sessionId of Object.values(ids))
      await postgresStore({ pool, sessionId, tablePrefix, listen: false, ttlMs: sessionId === ids.forever ? 0 : 60_000 }).set(tokens);
    const age = (sessionId: string, interval: string) =>
      pool.query(`UPDATE "${tablePrefix}tokens" SET expires_at = now() - interval '${interval}' WHERE id = $1`, [hashedSessionId(sessionId, 'test')]);
    await age(ids.old, '2 days');
    await age(ids.recent, '1 minute');
    await pool.query(
      `INSERT INTO "${tablePrefix}locks" (id, owner, expires_at) VALUES ('ended-lease', 'x', now() - interval '1 hour'), ('live-lease', 'y', now() + interval '1 minute')`,
    );
    expect(await deleteExpiredSessions(pool, { tablePrefix })).toEqual({ sessions: 1, locks: 1 });
    const left = await pool.query(`SELECT id FROM "${tablePrefix}tokens" WHERE id = ANY($1)`, [Object.values(ids).map((id) => hashedSessionId(id, 'test'))]);
    expect(left.rows.map((r) => r.id).sort()).toEqual([ids.recent, ids.live, ids.forever].map((id) => hashedSessionId(id, 'test')).sort());
    expect(await postgresStore({ pool, sessionId: ids.live, tablePrefix, listen: false }).get()).not.toBeNull();
    expect(await deleteExpiredSessions(pool, { tablePrefix, graceMs: 0 })).toEqual({ sessions: 1, locks: 0 });
  });

  it('notifies only the hashed session id and a version, never a token', async () => {
    const pool = postgres.pool();
    const spy = await postgres.pool().connect();
    const messages: string[] = [];
    spy.on('notification', (message) => messages.push(message.payload ?? ''));
    await spy.query(`LISTEN "${tablePrefix}events"`);
    const store = postgresStore({ pool, sessionId: 'alice', tablePrefix });
    const lock = postgresLock({ pool, sessionId: 'alice', tablePrefix });
    await store.set(tokens);
    await (await lock.acquire({ signal: new AbortController().signal, timeoutMs: 1000 })).release();
    await store.clear();
    await eventually(() => messages.length === 3);
    spy.release(true);
    const id = hashedSessionId('alice', 'test');
    expect(messages).toEqual([expect.stringMatching(new RegExp(`^${id}:t:\\d+$`)), `${id}:l`, `${id}:c`]);
    for (const message of messages) {
      expect(message).not.toContain('secret');
      expect(message).not.toContain('alice');
    }
  });

  it('does not wake its own listeners for its own writes', async () => {
    const store = postgresStore({ pool: postgres.pool(), sessionId: 's-own', tablePrefix });
    const peer = postgresStore({ pool: postgres.pool(), sessionId: 's-own', tablePrefix, listen: false });
    let heard = 0;
    const unsubscribe = store.subscribe!(() => heard++);
    await new Promise((r) => setTimeout(r, 50));
    await store.set(tokens);
    await new Promise((r) => setTimeout(r, 100));
    expect(heard).toBe(0);
    await peer.set(tokens);
    await eventually(() => heard === 1);
    unsubscribe();
  });

  it('holds one LISTEN connection per pool whatever the number of sessions, and gives it back when the last listener leaves', async () => {
    const pool = postgres.pool({ max: 3 });
    const hub = notificationHubFor(pool, true, `${tablePrefix}events`);
    const unsubscribes = Array.from({ length: 50 }, (_, i) => postgresStore({ pool, sessionId: `many-${i}`, tablePrefix }).subscribe!(() => undefined));
    await eventually(() => hub.connected);
    expect(hub.size).toBe(50);
    expect(pool.totalCount - pool.idleCount).toBe(1);
    for (const unsubscribe of unsubscribes) unsubscribe();
    expect(hub.size).toBe(0);
    await eventually(() => pool.totalCount - pool.idleCount === 0);
    expect(hub.connected).toBe(false);
  });

  it('listens on a client you open (for a pool behind a transaction-mode pooler)', async () => {
    const pool = postgres.pool();
    let opened = 0;
    const listen = async () => {
      opened++;
      const client = new (await import('pg')).default.Client({ connectionString: postgres.info.connectionString });
      await client.connect();
      return client;
    };
    const store = postgresStore({ pool, sessionId: 'own-client', tablePrefix, listen });
    let heard = 0;
    const unsubscribe = store.subscribe!(() => heard++);
    await eventually(() => opened === 1);
    await new Promise((r) => setTimeout(r, 50));
    await postgresStore({ pool, sessionId: 'own-client', tablePrefix, listen: false }).set(tokens);
    await eventually(() => heard === 1);
    unsubscribe();
  });

  it('has no subscribe with listen: false (other instances adopt at their next refresh)', () => {
    expect(postgresStore({ pool: postgres.pool(), sessionId: 's', tablePrefix, listen: false }).subscribe).toBeUndefined();
  });

  it('refuses session ids that are not well-formed UTF-16, which would share a row with U+FFFD', async () => {
    const pool = postgres.pool();
    for (const sessionId of ['\uD800', '\uDFFF', 'user-\uD800', '\uDC00\uD800']) {
      expect(
        isAuthchartError(
          catching(() => postgresStore({ pool, sessionId, tablePrefix })),
          'INVALID_OPTIONS',
        ),
        JSON.stringify(sessionId),
      ).toBe(true);
      expect(
        isAuthchartError(
          catching(() => postgresLock({ pool, sessionId, tablePrefix })),
          'INVALID_OPTIONS',
        ),
        JSON.stringify(sessionId),
      ).toBe(true);
    }
    const ids = ['\uFFFD', '\uD83D\uDE00', 'user-\uD83D\uDE00'];
    for (const [i, sessionId] of ids.entries()) await postgresStore({ pool, sessionId, tablePrefix }).set({ accessToken: `at-${i}` });
    for (const [i, sessionId] of ids.entries()) expect((await postgresStore({ pool, sessionId, tablePrefix }).get())?.accessToken).toBe(`at-${i}`);
  });

  it('refuses options that cannot work, with INVALID_OPTIONS', () => {
    const pool = postgres.pool();
    const invalid = [
      () => postgresStore({ pool, sessionId: '' }),
      () => postgresStore({ pool: {} as never, sessionId: 's' }),
      () => postgresStore({ pool, sessionId: 's', tablePrefix: 'Bad-Prefix' }),
      () => postgresStore({ pool, sessionId: 's', tablePrefix: 'x"; DROP TABLE users; --' }),
      () => postgresStore({ pool, sessionId: 's', schema: 'public"' }),
      () => postgresStore({ pool, sessionId: 's', operationTimeoutMs: Infinity }),
      () => postgresStore({ pool, sessionId: 's', ttlMs: -1 }),
      () => postgresStore({ pool, sessionId: 's', listen: 'yes' as never }),
      () => postgresLock({ pool, sessionId: 's', ttlMs: 0 }),
    ];
    for (const create of invalid) expect(isAuthchartError(catching(create), 'INVALID_OPTIONS'), String(create)).toBe(true);
  });
});
