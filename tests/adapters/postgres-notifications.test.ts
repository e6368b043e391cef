/**
 * The shared LISTEN connection of authchart/postgres, against a stand-in client (the real
 * server is in tests/postgres): statements sent on it go one at a time, as pg asks (a client
 * given a query while one runs queues it itself, which pg deprecates and drops in pg 9).
 */
import { describe, expect, it } from 'vitest';
import type { PgListenClientLike, PgResult } from '../../adapters/postgres/client.js';
import { NotificationHub } from '../../adapters/postgres/notifications.js';

const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

function standInClient() {
  let running = 0;
  let most = 0;
  const sent: string[] = [];
  const pending: (() => void)[] = [];
  const client = {
    query(text: string) {
      running++;
      most = Math.max(most, running);
      sent.push(text);
      return new Promise<PgResult>((resolve) => {
        pending.push(() => {
          running--;
          resolve({ rows: [], rowCount: 0 } as unknown as PgResult);
        });
      });
    },
    on: () => client,
    release: () => undefined,
  };
  /** Answer the statement running now. */
  const answer = async () => {
    await settle();
    pending.shift()?.();
    await settle();
  };
  return { client: client as unknown as PgListenClientLike, sent, answer, most: () => most };
}

describe('the LISTEN connection (NotificationHub)', () => {
  it('sends lease renewals one at a time, in order, even when many are asked for at once', async () => {
    const stand = standInClient();
    const hub = new NotificationHub(async () => stand.client, 'authchart');
    hub.listen('session', () => undefined);
    const ready = hub.ready();
    await stand.answer(); // LISTEN
    expect(await ready).toBe(true);

    const renewals = [1, 2, 3].map((n) => hub.query(`renew ${n}`, []));
    await settle();
    expect(stand.sent).toEqual(['LISTEN "authchart"', 'renew 1']);
    await stand.answer();
    await stand.answer();
    await stand.answer();
    await Promise.all(renewals);
    expect(stand.sent).toEqual(['LISTEN "authchart"', 'renew 1', 'renew 2', 'renew 3']);
    expect(stand.most()).toBe(1);
  });

  it('a statement that fails does not stop the ones after it', async () => {
    const stand = standInClient();
    const failing = stand.client as unknown as { query: (text: string) => Promise<PgResult> };
    const query = failing.query;
    failing.query = (text) => (text === 'renew 1' ? Promise.reject(new Error('lease gone')) : query(text));
    const hub = new NotificationHub(async () => stand.client, 'authchart');
    hub.listen('session', () => undefined);
    const ready = hub.ready();
    await stand.answer();
    await ready;
    const first = hub.query('renew 1', []);
    const second = hub.query('renew 2', []);
    await expect(first).rejects.toThrow('lease gone');
    await stand.answer();
    await expect(second).resolves.toBeDefined();
  });
});
