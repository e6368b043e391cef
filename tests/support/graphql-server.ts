/**
 * A real GraphQL server on 127.0.0.1 for the GraphQL suites: queries over HTTP
 * (graphql-http) and subscriptions over WebSocket (graphql-ws + ws), both guarded by the
 * rotating token server's bearer check.
 *
 * It answers an expired or unknown token the way many GraphQL servers do (Hasura, most
 * Apollo Server setups): HTTP 200 with `errors[].extensions.code === 'UNAUTHENTICATED'`,
 * so a status check cannot see it. On WebSocket it refuses `connection_init` with an
 * unusable token (4403 Forbidden), and closes an open connection with 4403 as soon as the
 * token it was opened with expires, as servers that check the token per connection do.
 */
import { EventEmitter, on } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { createHandler } from 'graphql-http/lib/use/http';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { TokenServer } from '../../adapters/testing/index.js';

export interface GraphqlServer {
  /** `http://127.0.0.1:<port>/graphql` */
  http: string;
  /** `ws://127.0.0.1:<port>/graphql` */
  ws: string;
  /** What the server saw, for the assertions. */
  stats: {
    /** HTTP operations answered with data. */
    answered: number;
    /** HTTP operations answered with UNAUTHENTICATED. */
    unauthenticated: number;
    /** WebSocket connections acknowledged, with the bearer token each was opened with (a secret: tests only). */
    connections: string[];
    /** The `connection_init` payload of each acknowledged connection. */
    params: Record<string, unknown>[];
    /** WebSocket connections refused at `connection_init` (4403). */
    refused: number;
    /** Open connections closed because their token expired (4403). */
    expiredClosed: number;
  };
  /** Tick number published last. */
  tick(): number;
  /** Refuse every token from now on (a server that never accepts what the client has). */
  refuseAll(on: boolean): void;
  close(): Promise<void>;
}

// graphql-js refuses a schema built by another copy of itself. graphql-http and graphql-ws
// are loaded by Node, which resolves `graphql` to its CommonJS build; the test runner would
// give this file the ESM build. Take the one Node gives them.
const { GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString } = createRequire(import.meta.url)('graphql') as typeof import('graphql');

const UNAUTHENTICATED = { message: 'Authentication required: the access token is missing, unknown or expired.', extensions: { code: 'UNAUTHENTICATED' } };

/**
 * Start the server. `tickMs`: how often the `ticks` subscription publishes.
 * @example
 * const gql = await startGraphqlServer(tokenServer)
 * new HttpLink({ uri: gql.http })
 */
export async function startGraphqlServer(tokens: TokenServer, options: { tickMs?: number } = {}): Promise<GraphqlServer> {
  const stats: GraphqlServer['stats'] = { answered: 0, unauthenticated: 0, connections: [], params: [], refused: 0, expiredClosed: 0 };
  const ticks = new EventEmitter();
  ticks.setMaxListeners(0);
  let tick = 0;
  let refusing = false;
  const accepts = (authorization: string | null) => tokens.authenticate(authorization).ok && !refusing;
  const timer = setInterval(() => ticks.emit('tick', ++tick), options.tickMs ?? 40);

  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({
      name: 'Query',
      fields: {
        item: {
          type: new GraphQLNonNull(GraphQLString),
          args: { id: { type: new GraphQLNonNull(GraphQLInt) } },
          resolve: (_root, { id }: { id: number }) => `item ${id}`,
        },
      },
    }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        ticks: {
          type: new GraphQLNonNull(GraphQLInt),
          subscribe: async function* (_root, _args, context: { authorization: string; close: () => boolean; signal: AbortSignal }) {
            for await (const [n] of on(ticks, 'tick', { signal: context.signal })) {
              // The connection's token is checked at every event: an expired one ends the connection.
              if (!accepts(context.authorization)) {
                if (context.close()) stats.expiredClosed++;
                return;
              }
              yield { ticks: n as number };
            }
          },
        },
      },
    }),
  });

  const handler = createHandler({
    schema,
    context: (req) => {
      if (!accepts((req.raw as IncomingMessage).headers.authorization ?? null)) {
        stats.unauthenticated++;
        return [
          JSON.stringify({ errors: [UNAUTHENTICATED] }),
          { status: 200, statusText: 'OK', headers: { 'content-type': 'application/json; charset=utf-8' } },
        ];
      }
      stats.answered++;
      return undefined;
    },
  });
  const server: Server = createServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/graphql') {
      res.writeHead(404).end();
      return;
    }
    handler(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  const wss = new WebSocketServer({ server, path: '/graphql' });
  const closers = new WeakMap<object, AbortController>();
  const wsServer = useServer(
    {
      schema,
      onConnect: (ctx) => {
        const authorization = typeof ctx.connectionParams?.authorization === 'string' ? ctx.connectionParams.authorization : null;
        if (!accepts(authorization)) {
          stats.refused++;
          return false;
        }
        stats.connections.push(authorization!.replace(/^Bearer /, ''));
        stats.params.push({ ...ctx.connectionParams });
        closers.set(ctx.extra.socket, new AbortController());
        return true;
      },
      onClose: (ctx) => closers.get(ctx.extra.socket)?.abort(),
      context: (ctx) => ({
        authorization: ctx.connectionParams?.authorization as string,
        signal: closers.get(ctx.extra.socket)!.signal,
        close: () => {
          // Every subscription on the connection sees the expiry; the connection closes once.
          if (ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) return false;
          ctx.extra.socket.close(4403, 'Forbidden: the access token expired');
          return true;
        },
      }),
    },
    wss,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    http: `http://127.0.0.1:${port}/graphql`,
    ws: `ws://127.0.0.1:${port}/graphql`,
    stats,
    tick: () => tick,
    refuseAll: (on) => {
      refusing = on;
    },
    async close() {
      clearInterval(timer);
      await wsServer.dispose();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
