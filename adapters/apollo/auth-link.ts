import { ApolloLink } from '@apollo/client/link';
import { Observable, type Subscription } from 'rxjs';
import { UnauthorizedAfterRefreshError } from '../core/errors.js';
import { frontEndOf } from '../core/front-end.js';
import type { Credential } from '../core/waiters.js';
import { sessionOf, type SessionSource } from '../bindings/source.js';

/** What {@link AuthLinkOptions.isUnauthorized} is shown: one result, or the error, of an attempt. */
export interface UnauthorizedCheck {
  result?: ApolloLink.Result;
  error?: unknown;
  operation: ApolloLink.Operation;
}

export interface AuthLinkOptions {
  /**
   * Whether an attempt's outcome means "the access token was refused". The default sees
   * both ways servers say it: a GraphQL error with `extensions.code === 'UNAUTHENTICATED'`
   * (often with HTTP 200, where a status check sees nothing) and HTTP 401.
   * @default a result with an `UNAUTHENTICATED` error, or HTTP 401
   * @example
   * isUnauthorized: ({ result }) => result?.errors?.some((e) => e.extensions?.code === 'invalid-jwt') ?? false // Hasura
   */
  isUnauthorized?: (check: UnauthorizedCheck) => boolean;
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

/** HTTP 401, as Apollo's HttpLink reports it: a `ServerError` (`statusCode`), or the response it put in the context. */
function isHttp401(error: unknown, operation: ApolloLink.Operation): boolean {
  if ((error as { statusCode?: unknown } | null)?.statusCode === 401) return true;
  return (operation.getContext() as { response?: { status?: number } }).response?.status === 401;
}

/**
 * The default {@link AuthLinkOptions.isUnauthorized}: an `UNAUTHENTICATED` GraphQL error, or HTTP 401.
 * @example
 * authLink(session, { isUnauthorized: (check) => isUnauthenticated(check) || check.result?.errors?.[0]?.message === 'jwt expired' })
 */
export function isUnauthenticated({ result, error, operation }: UnauthorizedCheck): boolean {
  const errors = (result as { errors?: readonly { extensions?: Record<string, unknown> }[] } | undefined)?.errors;
  if (errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) return true;
  return isHttp401(error, operation);
}

/**
 * An Apollo Client 4 link that puts every operation through the session: it sets the
 * bearer header from the session (waiting for the one shared refresh when the token has
 * expired), and when the server refuses the token, waits for the shared refresh and sends
 * the operation again, once. A second refusal fails with `UNAUTHORIZED_AFTER_REFRESH`; a
 * session that has ended fails with `SESSION_EXPIRED` (both `AuthchartError`s). An
 * operation is sent again only if nothing of it has reached the app yet. A refused answer
 * for a token older than the session's current one is sent again at once, without a refresh.
 *
 * Put it before the terminating link. For subscriptions over graphql-ws, give the WebSocket
 * client `withAuth` from `authchart/graphql-ws` instead (the token travels in `connection_init`).
 * @example
 * import { ApolloClient, HttpLink, InMemoryCache } from '@apollo/client'
 * import { authLink } from 'authchart/apollo'
 *
 * const client = new ApolloClient({
 *   link: authLink(session).concat(new HttpLink({ uri: 'https://api.example.com/graphql' })),
 *   cache: new InMemoryCache(),
 * })
 */
export function authLink(source: SessionSource, options: AuthLinkOptions = {}): ApolloLink {
  const port = frontEndOf(sessionOf(source));
  const isUnauthorized = options.isUnauthorized ?? isUnauthenticated;
  const header = options.header ?? 'authorization';
  const format = options.format ?? ((accessToken: string) => `Bearer ${accessToken}`);

  return new ApolloLink(
    (operation, forward) =>
      new Observable<ApolloLink.Result>((observer) => {
        const controller = new AbortController();
        let current: Subscription | undefined;
        let delivered = false;

        const send = (credential: Credential, replay: boolean) => {
          if (observer.closed) return;
          operation.setContext(({ headers }: { headers?: Record<string, string> }) => ({
            headers: { ...headers, [header]: format(credential.accessToken) },
          }));
          let superseded = false;
          const refused = (cause?: unknown) => {
            superseded = true;
            current?.unsubscribe();
            if (replay) {
              observer.error(new UnauthorizedAfterRefreshError(undefined, { cause }));
              return;
            }
            port.unauthorized(credential.tokenVersion, controller.signal).then(
              (next) => send(next, true),
              (error: unknown) => {
                if (!observer.closed) observer.error(error);
              },
            );
          };
          current = forward(operation).subscribe({
            next: (result) => {
              if (superseded) return;
              if (!delivered && isUnauthorized({ result, operation })) return refused(result);
              delivered = true;
              observer.next(result);
            },
            error: (error: unknown) => {
              if (superseded) return;
              if (!delivered && isUnauthorized({ error, operation })) return refused(error);
              observer.error(error);
            },
            complete: () => {
              if (!superseded) observer.complete();
            },
          });
          // An attempt that was refused synchronously has already unsubscribed itself above.
          if (superseded) current.unsubscribe();
        };

        const first = port.credential(controller.signal);
        if (first instanceof Promise) {
          first.then(
            (credential) => send(credential, false),
            (error: unknown) => {
              if (!observer.closed) observer.error(error);
            },
          );
        } else {
          send(first, false);
        }
        return () => {
          controller.abort();
          current?.unsubscribe();
        };
      }),
  );
}
