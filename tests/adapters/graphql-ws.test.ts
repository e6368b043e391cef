/**
 * `authchart/graphql-ws`: a graphql-ws client whose connection carries the session's token,
 * against a real graphql-ws server on 127.0.0.1 that refuses unusable tokens at
 * `connection_init` (4403) and closes a connection whose token expired (4403), refereed by
 * the rotating strict token server. End-to-end: real time, every wait bounded.
 */
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createSession } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { withAuth } from '../../adapters/graphql-ws/index.js';
import { loggedInSession, startGraphqlWorld, waitUntil, type GraphqlWorld } from '../support/graphql-world.js';

let world: GraphqlWorld;
beforeAll(async () => {
  world = await startGraphqlWorld();
});
afterAll(async () => {
  await world?.close();
});

function watchTicks(client: Client) {
  const seen = { ticks: [] as number[], errors: [] as unknown[], completed: false };
  const stop = client.subscribe<{ ticks: number }>(
    { query: 'subscription { ticks }' },
    {
      next: (result) => (result.errors ? seen.errors.push(result.errors) : seen.ticks.push(result.data!.ticks)),
      error: (error) => seen.errors.push(error),
      complete: () => {
        seen.completed = true;
      },
    },
  );
  const after = (tick: number) => seen.ticks.filter((n) => n > tick).length;
  return { seen, stop, after };
}

describe('authchart/graphql-ws: withAuth', () => {
  it('after a refresh the connection is reopened with the new token: 5 subscriptions keep delivering, and the old token expiring closes nothing', async () => {
    const session = loggedInSession(world);
    const client = createClient(withAuth(session, { url: world.gql.ws, webSocketImpl: WebSocket }));
    const subscriptions = Array.from({ length: 5 }, () => watchTicks(client));
    try {
      await waitUntil(() => subscriptions.every((s) => s.seen.ticks.length >= 2), 5000, 'every subscription delivers');
      const oldToken = await session.getAccessToken();
      world.tokens.resetStats();
      const closedBefore = world.gql.stats.expiredClosed;
      const connectionsBefore = world.gql.stats.connections.length;

      await session.refresh();
      const newToken = await session.getAccessToken();
      await waitUntil(() => world.gql.stats.connections.length > connectionsBefore, 5000, 'a connection is opened with the new token');
      world.tokens.expireAccessTokens([oldToken]);
      const refreshedAt = world.gql.tick();
      await waitUntil(() => subscriptions.every((s) => s.after(refreshedAt) >= 5), 10_000, 'every subscription delivers 5 ticks after the refresh');

      console.log(
        `[graphql-ws] refresh with 5 open subscriptions: token calls ${world.tokens.stats.refreshCalls}, connections opened ${world.gql.stats.connections.length - connectionsBefore}, ` +
          `closed by the server for an expired token ${world.gql.stats.expiredClosed - closedBefore}, errors ${subscriptions.flatMap((s) => s.seen.errors).length}`,
      );
      expect(world.tokens.stats.refreshCalls).toBe(1);
      expect(world.gql.stats.connections.slice(connectionsBefore)).toEqual([newToken]);
      expect(world.gql.stats.expiredClosed - closedBefore).toBe(0);
      expect(subscriptions.flatMap((s) => s.seen.errors)).toEqual([]);
      expect(subscriptions.some((s) => s.seen.completed)).toBe(false);
    } finally {
      for (const s of subscriptions) s.stop();
      await client.dispose();
      await session.dispose();
    }
  });

  it('5 subscriptions whose connection the server closes at expiry: one token call, one new connection, all keep delivering', async () => {
    const session = loggedInSession(world);
    const client = createClient(withAuth(session, { url: world.gql.ws, webSocketImpl: WebSocket }));
    const subscriptions = Array.from({ length: 5 }, () => watchTicks(client));
    try {
      await waitUntil(() => subscriptions.every((s) => s.seen.ticks.length >= 2), 5000, 'every subscription delivers');
      world.tokens.resetStats();
      const closedBefore = world.gql.stats.expiredClosed;
      const connectionsBefore = world.gql.stats.connections.length;
      world.tokens.expireAccessTokens();
      const expiredAt = world.gql.tick();
      await waitUntil(() => subscriptions.every((s) => s.after(expiredAt) >= 5), 10_000, 'every subscription delivers 5 ticks after the expiry');

      console.log(
        `[graphql-ws] server-side expiry under 5 subscriptions: token calls ${world.tokens.stats.refreshCalls}, closed by the server ${world.gql.stats.expiredClosed - closedBefore}, ` +
          `connections opened ${world.gql.stats.connections.length - connectionsBefore}, errors ${subscriptions.flatMap((s) => s.seen.errors).length}`,
      );
      expect(world.gql.stats.expiredClosed - closedBefore).toBe(1);
      expect(world.tokens.stats.refreshCalls).toBe(1);
      expect(world.tokens.stats.reuseDetected).toBe(0);
      expect(world.gql.stats.connections.slice(connectionsBefore)).toEqual([await session.getAccessToken()]);
      expect(subscriptions.flatMap((s) => s.seen.errors)).toEqual([]);
    } finally {
      for (const s of subscriptions) s.stop();
      await client.dispose();
      await session.dispose();
    }
  });

  it('a session whose token is known to have expired refreshes before connecting: the server never refuses a connection', async () => {
    const login = world.tokens.login();
    const session = createSession({
      refresh: oauthRefresher({ tokenEndpoint: world.servers.tokenEndpoint, clientId: 'graphql-tests' }),
      tokens: { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() - 1000 },
      wake: false,
    });
    world.tokens.expireAccessTokens([login.access_token]);
    const client = createClient(withAuth(session, { url: world.gql.ws, webSocketImpl: WebSocket }));
    const ticks = watchTicks(client);
    try {
      world.tokens.resetStats();
      const refusedBefore = world.gql.stats.refused;
      await waitUntil(() => ticks.seen.ticks.length >= 3, 5000, 'the subscription delivers');
      expect(world.gql.stats.refused - refusedBefore).toBe(0);
      expect(world.tokens.stats.refreshCalls).toBe(1);
    } finally {
      ticks.stop();
      await client.dispose();
      await session.dispose();
    }
  });

  it('a server that refuses the refreshed token too: one token call, then the subscriptions end with the 4403 close, never a loop', async () => {
    const session = loggedInSession(world);
    const client = createClient(withAuth(session, { url: world.gql.ws, webSocketImpl: WebSocket }));
    const subscriptions = [watchTicks(client), watchTicks(client)];
    try {
      await waitUntil(() => subscriptions.every((s) => s.seen.ticks.length >= 1), 5000, 'every subscription delivers');
      world.tokens.resetStats();
      const refusedBefore = world.gql.stats.refused;
      world.gql.refuseAll(true);
      await waitUntil(() => subscriptions.every((s) => s.seen.errors.length > 0), 5000, 'every subscription ends');
      expect(subscriptions.map((s) => (s.seen.errors[0] as { code?: number }).code)).toEqual([4403, 4403]);
      expect(world.tokens.stats.refreshCalls).toBe(1);
      expect(world.gql.stats.refused - refusedBefore).toBe(1);
    } finally {
      world.gql.refuseAll(false);
      for (const s of subscriptions) s.stop();
      await client.dispose();
      await session.dispose();
    }
  });

  it("the app's own connectionParams, on.connected and on.closed are kept", async () => {
    const session = loggedInSession(world);
    const events: string[] = [];
    const sent: Record<string, unknown>[] = [];
    const client = createClient(
      withAuth(session, {
        url: world.gql.ws,
        webSocketImpl: WebSocket,
        connectionParams: { tenant: 'acme' },
        authParams: async (accessToken) => {
          const params = { authorization: `Bearer ${accessToken}` };
          sent.push(params);
          return params;
        },
        on: { connected: () => events.push('connected'), closed: () => events.push('closed') },
      }),
    );
    const ticks = watchTicks(client);
    try {
      await waitUntil(() => ticks.seen.ticks.length >= 1, 5000, 'the subscription delivers');
      await session.refresh();
      await waitUntil(() => events.filter((e) => e === 'connected').length === 2, 5000, 'the connection is reopened');
      expect(events).toEqual(['connected', 'closed', 'connected']);
      expect(sent.at(-1)).toEqual({ authorization: `Bearer ${await session.getAccessToken()}` });
      expect(world.gql.stats.params.at(-1)).toEqual({ tenant: 'acme', authorization: `Bearer ${await session.getAccessToken()}` });
    } finally {
      ticks.stop();
      await client.dispose();
      await session.dispose();
    }
  });
});
