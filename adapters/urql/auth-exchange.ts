import { makeErrorResult, makeOperation, type Exchange, type Operation, type OperationResult } from '@urql/core';
import { empty, filter, fromValue, make, merge, mergeMap, pipe, share, makeSubject, subscribe, takeUntil, type Source } from 'wonka';
import { UnauthorizedAfterRefreshError } from '../core/errors.js';
import { frontEndOf } from '../core/front-end.js';
import type { Credential } from '../core/waiters.js';
import { sessionOf, type SessionSource } from '../bindings/source.js';

export interface AuthExchangeOptions {
  /**
   * Whether a result means "the access token was refused". The default sees both ways
   * servers say it: a GraphQL error with `extensions.code === 'UNAUTHENTICATED'` (often
   * with HTTP 200) and HTTP 401. (The same name as `@urql/exchange-auth`'s option.)
   * @default a result with an `UNAUTHENTICATED` error, or HTTP 401
   * @example
   * didAuthError: (result) => result.error?.graphQLErrors.some((e) => e.extensions?.code === 'invalid-jwt') ?? false
   */
  didAuthError?: (result: OperationResult) => boolean;
  /**
   * The header that carries the token.
   * @default 'authorization'
   * @example header: 'x-hasura-authorization'
   */
  header?: string;
  /**
   * The header's value for a token.
   * @default (accessToken) => `Bearer ${accessToken}`
   * @example format: (accessToken) => `JWT ${accessToken}`
   */
  format?: (accessToken: string) => string;
}

/**
 * The default {@link AuthExchangeOptions.didAuthError}: an `UNAUTHENTICATED` GraphQL error, or HTTP 401.
 * @example
 * authExchange(session, { didAuthError: (result) => isUnauthenticated(result) || result.error?.message.includes('jwt expired') === true })
 */
export function isUnauthenticated(result: OperationResult): boolean {
  const error = result.error;
  if (!error) return false;
  if (error.graphQLErrors.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) return true;
  return (error.response as { status?: number } | undefined)?.status === 401;
}

/** Where an operation keeps the token version it was sent with, and whether it is the replay. */
const MARK = 'authchart';
interface Mark {
  tokenVersion: number;
  replay: boolean;
}

/**
 * A urql exchange that puts every operation through the session: it sets the bearer
 * header in `fetchOptions` (waiting for the one shared refresh when the token has expired),
 * and when a result says the token was refused, waits for the shared refresh and sends the
 * operation again, once, without the app seeing the refused result. A second refusal gives
 * a result whose `error.networkError` is `UNAUTHORIZED_AFTER_REFRESH`; a session that has
 * ended gives `SESSION_EXPIRED` there (both `AuthchartError`s). A refused result for a
 * token older than the session's current one is replayed at once, without a refresh.
 *
 * Put it before `fetchExchange` (and after `cacheExchange`, so cached results need no token).
 * Unlike `@urql/exchange-auth`, it holds no refresh logic of its own: the session decides
 * when to refresh, for this client and every other front end that shares it.
 * @example
 * import { Client, cacheExchange, fetchExchange } from '@urql/core'
 * import { authExchange } from 'authchart/urql'
 *
 * const client = new Client({ url: '/graphql', exchanges: [cacheExchange, authExchange(session), fetchExchange] })
 */
export function authExchange(source: SessionSource, options: AuthExchangeOptions = {}): Exchange {
  const port = frontEndOf(sessionOf(source));
  const didAuthError = options.didAuthError ?? isUnauthenticated;
  const header = options.header ?? 'authorization';
  const format = options.format ?? ((accessToken: string) => `Bearer ${accessToken}`);

  const attach = (operation: Operation, credential: Credential, replay: boolean): Operation => {
    const given = operation.context.fetchOptions;
    const fetchOptions = (typeof given === 'function' ? given() : given) ?? {};
    const headers = new Headers(fetchOptions.headers);
    headers.set(header, format(credential.accessToken));
    const mark: Mark = { tokenVersion: credential.tokenVersion, replay };
    return makeOperation(operation.kind, operation, {
      ...operation.context,
      fetchOptions: { ...fetchOptions, headers: Object.fromEntries(headers) },
      [MARK]: mark,
    });
  };

  return ({ forward }) =>
    (operations$) => {
      const shared$ = share(operations$);
      const teardownOf = (key: number) =>
        pipe(
          shared$,
          filter((op) => op.kind === 'teardown' && op.key === key),
        );
      const failed = makeSubject<OperationResult>();
      const replays = makeSubject<Operation>();

      /** The operation with a credential once `pending` gives one; its teardown abandons the wait. */
      const whenCredential = (operation: Operation, pending: Promise<Credential>, controller: AbortController, replay: boolean): Source<Operation> =>
        pipe(
          make<Operation>(({ next, complete }) => {
            pending.then(
              (credential) => {
                next(attach(operation, credential, replay));
                complete();
              },
              (error: unknown) => {
                if (!controller.signal.aborted) failed.next(makeErrorResult(operation, error as Error));
                complete();
              },
            );
            return () => controller.abort();
          }),
          takeUntil(teardownOf(operation.key)),
        );

      const sent$ = pipe(
        shared$,
        filter((op) => op.kind !== 'teardown'),
        mergeMap((operation) => {
          const controller = new AbortController();
          const credential = port.credential(controller.signal);
          if (!(credential instanceof Promise)) return fromValue(attach(operation, credential, false));
          return whenCredential(operation, credential, controller, false);
        }),
      );
      const teardowns$ = pipe(
        shared$,
        filter((op) => op.kind === 'teardown'),
      );

      const results$ = pipe(
        forward(merge([sent$, replays.source, teardowns$])),
        mergeMap((result): Source<OperationResult> => {
          const mark = result.operation.context[MARK] as Mark | undefined;
          if (!mark || !didAuthError(result)) return fromValue(result);
          if (mark.replay) {
            return fromValue(makeErrorResult(result.operation, new UnauthorizedAfterRefreshError(undefined, { cause: result.error }), result.error?.response));
          }
          const controller = new AbortController();
          pipe(
            whenCredential(result.operation, port.unauthorized(mark.tokenVersion, controller.signal), controller, true),
            subscribe((operation) => replays.next(operation)),
          );
          return empty;
        }),
      );
      return merge([results$, failed.source]);
    };
}
