/**
 * The GraphQL suites' world: the rotating strict token server (the referee) and the
 * protected GraphQL server, both real on 127.0.0.1, and a session logged in against them.
 */
import { createSession, type Session } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, startTestServers, type TestServers } from '../../adapters/testing/node.js';
import type { TokenServer } from '../../adapters/testing/index.js';
import { startGraphqlServer, type GraphqlServer } from './graphql-server.js';

export interface GraphqlWorld {
  tokens: TokenServer;
  servers: TestServers;
  gql: GraphqlServer;
  close(): Promise<void>;
}

export async function startGraphqlWorld(): Promise<GraphqlWorld> {
  const tokens = createTokenServer({ accessTokenTtlSeconds: 60 });
  const servers = await startTestServers(tokens);
  const gql = await startGraphqlServer(tokens);
  return {
    tokens,
    servers,
    gql,
    async close() {
      await Promise.all([servers.close(), gql.close()]);
    },
  };
}

/** A session logged in to a new token family. */
export function loggedInSession(world: GraphqlWorld, options: { backoffBaseMs?: number } = {}): Session {
  const login = world.tokens.login();
  return createSession({
    refresh: oauthRefresher({ tokenEndpoint: world.servers.tokenEndpoint, clientId: 'graphql-tests' }),
    tokens: { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + login.expires_in * 1000 },
    wake: false,
    backoffBaseMs: options.backoffBaseMs,
  });
}

/** Poll `check` every 10 ms until it holds; fail naming `what` after `timeoutMs`. */
export async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
