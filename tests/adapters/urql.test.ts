/**
 * `authchart/urql` (and `authchart/graphql-ws` under urql's subscriptionExchange) against a
 * real GraphQL server on 127.0.0.1 that answers an expired token with HTTP 200 +
 * UNAUTHENTICATED, refereed by the rotating strict token server. End-to-end: real time,
 * every wait bounded.
 */
import { Client, fetchExchange, gql as graphql, subscriptionExchange, type OperationResult } from '@urql/core';
import { createClient } from 'graphql-ws';
import { pipe, subscribe } from 'wonka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { isAuthchartError, type Session } from '../../adapters/index.js';
import { authExchange } from '../../adapters/urql/index.js';
import { withAuth } from '../../adapters/graphql-ws/index.js';
import { loggedInSession, startGraphqlWorld, waitUntil, type GraphqlWorld } from '../support/graphql-world.js';

const ITEM = graphql`
  query Item($id: Int!) {
    item(id: $id)
  }
`;
const TICKS = graphql`
  subscription Ticks {
    ticks
  }
`;

let world: GraphqlWorld;
beforeAll(async () => {
  world = await startGraphqlWorld();
});
afterAll(async () => {
  await world?.close();
});

function urqlFor(session: Session) {
  const wsClient = createClient(withAuth(session, { url: world.gql.ws, webSocketImpl: WebSocket }));
  const client = new Client({
    url: world.gql.http,
    exchanges: [
      authExchange(session),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: wsClient.subscribe({ ...request, query: request.query ?? '' }, sink) }),
        }),
      }),
    ],
  });
  return {
    client,
    query: (id: number) => client.query(ITEM, { id }, { requestPolicy: 'network-only' }).toPromise(),
    async close() {
      await wsClient.dispose();
      await session.dispose();
    },
  };
}

function watchTicks(client: Client) {
  const seen = { ticks: [] as number[], errors: [] as unknown[] };
  const { unsubscribe } = pipe(
    client.subscription(TICKS, {}),
    subscribe((result: OperationResult) => {
      if (result.error) seen.errors.push(result.error);
      else seen.ticks.push((result.data as { ticks: number }).ticks);
    }),
  );
  return { seen, stop: unsubscribe };
}

const codeOf = (result: OperationResult) => {
  const cause = result.error?.networkError;
  return isAuthchartError(cause) ? cause.code : result.error ? String(result.error) : 'answered';
};

describe('authchart/urql: authExchange', () => {
  it('20 queries and an open subscription across an expiry: one token call, every query answered, the subscription keeps delivering', async () => {
    const session = loggedInSession(world);
    const urql = urqlFor(session);
    const ticks = watchTicks(urql.client);
    try {
      await waitUntil(() => ticks.seen.ticks.length >= 3, 10_000, 'the subscription delivers');
      world.tokens.resetStats();
      const before = { unauthenticated: world.gql.stats.unauthenticated, connections: world.gql.stats.connections.length };
      world.tokens.expireAccessTokens();
      const expiredAt = world.gql.tick();

      const started = Date.now();
      const results = await Promise.all(Array.from({ length: 20 }, (_, id) => urql.query(id)));
      const herdMs = Date.now() - started;
      await waitUntil(() => ticks.seen.ticks.filter((n) => n > expiredAt).length >= 10, 10_000, 'the subscription delivers 10 ticks after the expiry');

      const answered = results.filter((r, id) => !r.error && (r.data as { item: string }).item === `item ${id}`).length;
      const refused = world.gql.stats.unauthenticated - before.unauthenticated;
      console.log(
        `[urql] 20 queries + 1 subscription across an expiry: token calls ${world.tokens.stats.refreshCalls}, ${answered}/20 answered, ` +
          `${refused} UNAUTHENTICATED seen by the exchange (none by the app), ws reconnections ${world.gql.stats.connections.length - before.connections}, ` +
          `ticks after expiry ${ticks.seen.ticks.filter((n) => n > expiredAt).length}, subscription errors ${ticks.seen.errors.length}; the herd took ${herdMs} ms`,
      );
      expect(results.map((r) => r.error?.message)).toEqual(Array(20).fill(undefined));
      expect(refused).toBe(20);
      expect(answered).toBe(20);
      expect(world.tokens.stats.refreshCalls).toBe(1);
      expect(world.tokens.stats.reuseDetected).toBe(0);
      expect(ticks.seen.errors).toEqual([]);
      expect(world.gql.stats.connections.at(-1)).toBe(await session.getAccessToken());
      expect(ticks.seen.ticks).toEqual([...ticks.seen.ticks].sort((a, b) => a - b));
    } finally {
      ticks.stop();
      await urql.close();
    }
  });

  it('a token refused again after the refresh gives UNAUTHORIZED_AFTER_REFRESH, after one token call, never a loop', async () => {
    const session = loggedInSession(world);
    const urql = urqlFor(session);
    try {
      world.tokens.resetStats();
      world.gql.refuseAll(true);
      const results = await Promise.all([urql.query(1), urql.query(2), urql.query(3)]);
      expect(results.map(codeOf)).toEqual(['UNAUTHORIZED_AFTER_REFRESH', 'UNAUTHORIZED_AFTER_REFRESH', 'UNAUTHORIZED_AFTER_REFRESH']);
      expect(world.tokens.stats.refreshCalls).toBe(1);
    } finally {
      world.gql.refuseAll(false);
      await urql.close();
    }
  });

  it('after logout a query gives SESSION_EXPIRED without reaching the server', async () => {
    const session = loggedInSession(world);
    const urql = urqlFor(session);
    try {
      expect(codeOf(await urql.query(1))).toBe('answered');
      const seenBefore = world.gql.stats.answered + world.gql.stats.unauthenticated;
      await session.logout();
      expect(codeOf(await urql.query(2))).toBe('SESSION_EXPIRED');
      expect(world.gql.stats.answered + world.gql.stats.unauthenticated).toBe(seenBefore);
    } finally {
      await urql.close();
    }
  });

  it('the header the app set in fetchOptions is kept next to the token', async () => {
    const session = loggedInSession(world);
    const seen: Headers[] = [];
    const client = new Client({
      url: world.gql.http,
      fetchOptions: () => ({ headers: { 'x-app': 'dashboard' } }),
      fetch: (input, init) => {
        seen.push(new Headers(init?.headers));
        return fetch(input, init);
      },
      exchanges: [authExchange(session), fetchExchange],
    });
    try {
      const result = await client.query(ITEM, { id: 4 }).toPromise();
      expect(result.data).toEqual({ item: 'item 4' });
      expect(seen[0]?.get('x-app')).toBe('dashboard');
      expect(seen[0]?.get('authorization')).toBe(`Bearer ${await session.getAccessToken()}`);
    } finally {
      await session.dispose();
    }
  });

  it('an operation torn down while it waits for the refresh leaves the queue at once', async () => {
    const session = loggedInSession(world);
    const urql = urqlFor(session);
    try {
      world.tokens.fault({ type: 'delay', ms: 3000 });
      world.tokens.expireAccessTokens();
      const { unsubscribe } = pipe(
        urql.client.query(ITEM, { id: 99 }, { requestPolicy: 'network-only' }),
        subscribe(() => undefined),
      );
      await waitUntil(() => session.getStatus().queued === 1, 3000, 'the operation waits for the refresh');
      unsubscribe();
      await waitUntil(() => session.getStatus().queued === 0, 500, 'the operation leaves the queue');
    } finally {
      await urql.close();
    }
  });
});
