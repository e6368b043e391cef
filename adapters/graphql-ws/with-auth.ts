import type { ClientOptions } from 'graphql-ws';
import { frontEndOf } from '../core/front-end.js';
import { sessionOf, type SessionSource } from '../bindings/source.js';

/**
 * The close code the client uses to reopen its connection with a fresh token (graphql-ws's
 * "client restart" convention); a server that logs closes can tell it from a failure.
 * @example
 * on: { closed: (event) => event.code === RESTART_CLOSE_CODE || log(event) }
 */
export const RESTART_CLOSE_CODE = 4205;

/** A close event as graphql-ws hands it to `shouldRetry`. */
export interface CloseEventLike {
  code: number;
  reason: string;
}

/** What {@link withAuth} adds to graphql-ws's `createClient` options. */
export interface GraphqlWsAuthOptions {
  /**
   * The `connection_init` payload that carries the token, merged over your own
   * `connectionParams` (if any).
   * @default (accessToken) => ({ authorization: `Bearer ${accessToken}` })
   * @example
   * authParams: (accessToken) => ({ headers: { Authorization: `Bearer ${accessToken}` } }) // Hasura
   */
  authParams?: (accessToken: string) => Record<string, unknown> | Promise<Record<string, unknown>>;
  /**
   * Whether the server closed the connection because of the token (refused at
   * `connection_init`, or expired while open). The connection is then reopened once with
   * the token from the session's one shared refresh.
   * @default (event) => event.code === 4403
   * @example
   * isUnauthorizedClose: (event) => event.code === 4403 || /JWTExpired/.test(event.reason)
   */
  isUnauthorizedClose?: (event: CloseEventLike) => boolean;
  /**
   * Reopen the connection with the new token after every refresh (`refreshed`), so the
   * server never sees an expired one. Active subscriptions are subscribed again on the new
   * connection; the client's sinks are untouched.
   * @default true
   * @example restartOnRefresh: false // the server checks the token only at connection_init and never closes for it
   */
  restartOnRefresh?: boolean;
}

const isCloseEvent = (value: unknown): value is CloseEventLike => typeof value === 'object' && value !== null && 'code' in value && 'reason' in value;

/** graphql-ws's idea of a retry: wait longer each time (1 s, 2 s, 4 s …) plus up to a second of jitter. */
const backoff = (retries: number) => new Promise<void>((resolve) => setTimeout(resolve, 1000 * 2 ** retries + Math.random() * 1000));

interface SocketLike {
  readonly readyState: number;
  close(code?: number, reason?: string): void;
}

/**
 * Options for graphql-ws's `createClient` whose connection carries the session's token:
 * `connectionParams` gets it from the session (waiting for the one shared refresh when it
 * has expired); after every refresh the connection is reopened with the new token
 * (`connection_init` is sent once per connection, so that is the only way to give the
 * server a new one) and graphql-ws subscribes the active subscriptions again; a connection
 * the server closes for its token (4403) waits for the shared refresh and reopens at once,
 * once (a second refusal is passed on, as `authchart/fetch` replays a request once).
 * Your own `url`, `connectionParams`, `on`, `shouldRetry` and `retryWait` are kept.
 *
 * Events a server publishes while the connection is being reopened (a few milliseconds)
 * are not replayed unless your server resumes subscriptions. When the session ends, the
 * connection is closed with 4401 (fatal for graphql-ws): every subscription errors with
 * that close event, whose reason starts with `[authchart]`. `retryAttempts` must be at
 * least 1 (graphql-ws's default is 5).
 * @example
 * import { createClient } from 'graphql-ws'
 * import { withAuth } from 'authchart/graphql-ws'
 *
 * const client = createClient(withAuth(session, { url: 'wss://api.example.com/graphql' }))
 */
export function withAuth<Options extends ClientOptions>(source: SessionSource, options: Options & GraphqlWsAuthOptions): Options {
  const session = sessionOf(source);
  const port = frontEndOf(session);
  const { authParams: authParamsOption, isUnauthorizedClose: isUnauthorizedOption, restartOnRefresh = true, ...clientOptions } = options;
  const authParams = authParamsOption ?? ((accessToken: string) => ({ authorization: `Bearer ${accessToken}` }));
  const isUnauthorizedClose = isUnauthorizedOption ?? ((event: CloseEventLike) => event.code === 4403);

  let socket: SocketLike | null = null;
  /** Token version of the open connection, and of the one being opened. */
  let socketVersion: number | null = null;
  let openingVersion: number | null = null;
  /** A version the server refused: the next connection waits for the refresh it starts. */
  let refusedVersion: number | null = null;
  /** The version reported refused since the last acknowledged connection (R7: once). */
  let reportedVersion: number | null = null;
  let restarting = false;
  let stopListening: (() => void) | null = null;
  /** graphql-ws asks `shouldRetry` once per active subscription for the same close: decide once. */
  const lastDecided: { event: unknown; retry: boolean } = { event: undefined, retry: false };

  const listen = () => {
    if (stopListening) return;
    const offRefreshed = restartOnRefresh
      ? session.on('refreshed', ({ tokenVersion }) => {
          if (socket && socket.readyState === 1 && socketVersion !== null && tokenVersion > socketVersion) {
            restarting = true;
            socket.close(RESTART_CLOSE_CODE, '[authchart] Reconnecting with the refreshed token.');
          }
        })
      : () => {};
    const offLoggedOut = session.on('loggedOut', () => {
      if (socket && socket.readyState === 1) socket.close(4401, '[authchart] SESSION_EXPIRED: the session has ended; sign in again.');
    });
    stopListening = () => {
      offRefreshed();
      offLoggedOut();
      stopListening = null;
    };
  };

  const userParams = clientOptions.connectionParams;
  const userOn = clientOptions.on;
  const userShouldRetry = clientOptions.shouldRetry ?? isCloseEvent;
  const userRetryWait = clientOptions.retryWait ?? backoff;
  const url = clientOptions.url;

  const decide = (event: unknown): boolean => {
    if (isCloseEvent(event) && event.code === RESTART_CLOSE_CODE && restarting) return true;
    if (isCloseEvent(event) && isUnauthorizedClose(event) && openingVersion !== null) {
      // A token given after our own report was refused as well: pass it on (replay once).
      if (reportedVersion !== null && openingVersion > reportedVersion) return false;
      refusedVersion = reportedVersion = openingVersion;
      return true;
    }
    return userShouldRetry(event);
  };

  return {
    ...clientOptions,
    // Called before every socket is opened: wait here (never in connectionParams, where the
    // server's connection-init timeout is running) for the refresh a refused token starts.
    url: async () => {
      if (refusedVersion !== null) {
        const version = refusedVersion;
        refusedVersion = null;
        // A session that has ended fails in connectionParams, where graphql-ws reports it.
        await port.unauthorized(version).catch(() => undefined);
      }
      return typeof url === 'function' ? url() : url;
    },
    connectionParams: async () => {
      const pending = port.credential();
      const credential = pending instanceof Promise ? await pending : pending;
      openingVersion = credential.tokenVersion;
      const own = typeof userParams === 'function' ? await userParams() : userParams;
      return { ...own, ...(await authParams(credential.accessToken)) };
    },
    shouldRetry: (event: unknown) => {
      if (event !== undefined && lastDecided.event === event) return lastDecided.retry;
      lastDecided.event = event;
      lastDecided.retry = decide(event);
      return lastDecided.retry;
    },
    retryWait: async (retries: number) => {
      if (restarting || refusedVersion !== null) {
        restarting = false;
        return;
      }
      await userRetryWait(retries);
    },
    on: {
      ...userOn,
      connected: (connected: unknown, payload: unknown, wasRetry: boolean) => {
        socket = connected as SocketLike;
        socketVersion = openingVersion;
        reportedVersion = null;
        listen();
        // A refresh that finished while this connection was being opened: reopen now.
        if (restartOnRefresh && socketVersion !== null && session.getStatus().tokenVersion > socketVersion) {
          restarting = true;
          socket.close(RESTART_CLOSE_CODE, '[authchart] Reconnecting with the refreshed token.');
        }
        userOn?.connected?.(connected as never, payload as never, wasRetry);
      },
      closed: (event: unknown) => {
        socket = null;
        socketVersion = null;
        stopListening?.();
        userOn?.closed?.(event);
      },
    },
  } as unknown as Options;
}
