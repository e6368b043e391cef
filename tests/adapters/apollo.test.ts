/**
 * `authchart/apollo` (and `authchart/graphql-ws` under Apollo's GraphQLWsLink) against a
 * real GraphQL server on 127.0.0.1 that answers an expired token with HTTP 200 +
 * UNAUTHENTICATED, refereed by the rotating strict token server. End-to-end: real time,
 * every wait bounded.
 */
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql as graphql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { OperationTypeNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { isAuthchartError, type Session } from '../../adapters/index.js';
import { authLink } from '../../adapters/apollo/index.js';
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

function apolloFor(session: Session) {
  const wsClient = createClient(withAuth(session, { url: world.gql.ws, webSocketImpl: WebSocket }));
  const client = new ApolloClient({
    link: ApolloLink.split(
      ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
      new GraphQLWsLink(wsClient),
      authLink(session).concat(new HttpLink({ uri: world.gql.http })),
    ),
    cache: new InMemoryCache(),
  });
  return {
    client,
    query: (id: number) => client.query({ query: ITEM, variables: { id }, fetchPolicy: 'network-only' }),
    async close() {
      client.stop();
      await wsClient.dispose();
      await session.dispose();
    },
  };
}

/** Subscribe to `ticks` and record what arrives. */
function watchTicks(client: ApolloClient) {
  const seen = { ticks: [] as number[], errors: [] as unknown[], completed: false };
  const subscription = client.subscribe({ query: TICKS }).subscribe({
    next: (result) => {
      if (result.error) seen.errors.push(result.error);
      else seen.ticks.push((result.data as { ticks: number }).ticks);
    },
    error: (error) => seen.errors.push(error),
    complete: () => {
      seen.completed = true;
    },
  });
  return { seen, stop: () => subscription.unsubscribe() };
}

describe('authchart/apollo: authLink', () => {
  it('20 queries and an open subscription across an expiry: one token call, every query answered, the subscription keeps delivering', async () => {
    const session = loggedInSession(world);
    const apollo = apolloFor(session);
    const ticks = watchTicks(apollo.client);
    try {
      await waitUntil(() => ticks.seen.ticks.length >= 3, 10_000, 'the subscription delivers');
      world.tokens.resetStats();
      const before = { ...world.gql.stats, connections: world.gql.stats.connections.length };
      world.tokens.expireAccessTokens();
      const expiredAt = world.gql.tick();

      const started = Date.now();
      const answers = await Promise.allSettled(Array.from({ length: 20 }, (_, id) => apollo.query(id)));
      const herdMs = Date.now() - started;
      await waitUntil(() => ticks.seen.ticks.filter((n) => n > expiredAt).length >= 10, 10_000, 'the subscription delivers 10 ticks after the expiry');

      const answered = answers.filter(
        (a) => a.status === 'fulfilled' && (a.value.data as { item?: string } | undefined)?.item === `item ${answers.indexOf(a)}`,
      ).length;
      const refused = world.gql.stats.unauthenticated - before.unauthenticated;
      console.log(
        `[apollo] 20 queries + 1 subscription across an expiry: token calls ${world.tokens.stats.refreshCalls}, ${answered}/20 answered, ` +
          `${refused} UNAUTHENTICATED seen by the link (none by the app), ws reconnections ${world.gql.stats.connections.length - before.connections}, ` +
          `ticks after expiry ${ticks.seen.ticks.filter((n) => n > expiredAt).length}, subscription errors ${ticks.seen.errors.length}; the herd took ${herdMs} ms`,
      );
      expect(refused).toBe(20);
      expect(answered).toBe(20);
      expect(world.tokens.stats.refreshCalls).toBe(1);
      expect(world.tokens.stats.reuseDetected).toBe(0);
      expect(ticks.seen.errors).toEqual([]);
      expect(ticks.seen.completed).toBe(false);
      // The subscription now runs on a connection opened with the new token.
      expect(world.gql.stats.connections.at(-1)).toBe(await session.getAccessToken());
      // Ticks keep increasing: the same subscription, not a new one started by the app.
      expect(ticks.seen.ticks).toEqual([...ticks.seen.ticks].sort((a, b) => a - b));
    } finally {
      ticks.stop();
      await apollo.close();
    }
  });

  it('a token refused again after the refresh fails with UNAUTHORIZED_AFTER_REFRESH, after one token call, never a loop', async () => {
    const session = loggedInSession(world);
    const apollo = apolloFor(session);
    try {
      world.tokens.resetStats();
      world.gql.refuseAll(true);
      const answers = await Promise.allSettled([apollo.query(1), apollo.query(2), apollo.query(3)]);
      const codes = answers.map((a) => (a.status === 'rejected' && isAuthchartError(a.reason) ? a.reason.code : 'not an authchart error'));
      expect(codes).toEqual(['UNAUTHORIZED_AFTER_REFRESH', 'UNAUTHORIZED_AFTER_REFRESH', 'UNAUTHORIZED_AFTER_REFRESH']);
      expect(world.tokens.stats.refreshCalls).toBe(1);
    } finally {
      world.gql.refuseAll(false);
      await apollo.close();
    }
  });

  it('after logout, queries fail with SESSION_EXPIRED without reaching the server, and the subscription ends with an [authchart] close', async () => {
    const session = loggedInSession(world);
    const apollo = apolloFor(session);
    const ticks = watchTicks(apollo.client);
    try {
      await waitUntil(() => ticks.seen.ticks.length >= 2, 10_000, 'the subscription delivers');
      const answeredBefore = world.gql.stats.answered + world.gql.stats.unauthenticated;
      await session.logout();
      const answer = await apollo.query(7).then(
        () => 'answered',
        (error: unknown) => (isAuthchartError(error) ? error.code : String(error)),
      );
      await waitUntil(() => ticks.seen.errors.length > 0, 5000, 'the subscription ends');
      expect(answer).toBe('SESSION_EXPIRED');
      expect(world.gql.stats.answered + world.gql.stats.unauthenticated).toBe(answeredBefore);
      expect(ticks.seen.errors).toHaveLength(1);
      // GraphQLWsLink turns graphql-ws's close event into an Error naming it.
      expect(String(ticks.seen.errors[0])).toMatch(/4401 \[authchart\] SESSION_EXPIRED/);
    } finally {
      ticks.stop();
      await apollo.close();
    }
  });

  it('an operation unsubscribed while it waits for the refresh leaves the queue at once', async () => {
    const session = loggedInSession(world);
    const apollo = apolloFor(session);
    try {
      world.tokens.fault({ type: 'delay', ms: 3000 });
      world.tokens.expireAccessTokens();
      const subscription = apollo.client.watchQuery({ query: ITEM, variables: { id: 99 }, fetchPolicy: 'network-only' }).subscribe(() => undefined);
      await waitUntil(() => session.getStatus().queued === 1, 3000, 'the operation waits for the refresh');
      subscription.unsubscribe();
      await waitUntil(() => session.getStatus().queued === 0, 500, 'the operation leaves the queue');
    } finally {
      await apollo.close();
    }
  });
});
