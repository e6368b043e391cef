import { HttpErrorResponse, type HttpEvent, type HttpInterceptorFn } from '@angular/common/http';
import {
  DestroyRef,
  EnvironmentInjector,
  InjectionToken,
  inject,
  makeEnvironmentProviders,
  provideEnvironmentInitializer,
  runInInjectionContext,
  signal,
  type EnvironmentProviders,
  type Signal,
} from '@angular/core';
import { Observable, type Subscription } from 'rxjs';
import { selectSessionStatus, type RefreshSnapshot, type SessionStatus } from '../../machines/refresh.machine.js';
import { InvalidOptionsError, UnauthorizedAfterRefreshError } from '../core/errors.js';
import { frontEndOf, type FrontEndPort } from '../core/front-end.js';
import type { Session } from '../core/session.js';
import type { Credential } from '../core/waiters.js';
import { originPolicy, type AllowedOrigins } from '../core/origins.js';
import { browserPage } from '../fetch/page.js';
import { sessionOf, type SessionSource } from '../bindings/source.js';
import { watchLoggedOut, type LoggedOutNotice } from '../bindings/logged-out.js';

export interface AuthchartOptions {
  /**
   * Origins that may receive the access token. Requests to any other origin go out
   * untouched. Checked against the request's URL, resolved against the page.
   * @default the page's own origin (required outside a browser, e.g. in server-side rendering)
   * @example ['https://api.example.com']
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * Whether an error response means "the access token was refused".
   * @default (error) => error.status === 401
   * @example isUnauthorized: (error) => error.status === 401 || error.status === 419
   */
  isUnauthorized?: (error: HttpErrorResponse) => boolean;
  /**
   * Called once when the session ends (and once at start when it starts without tokens),
   * in an injection context, so `inject(Router)` works there. Not called again for the same
   * logged-out spell, nor while {@link AuthchartOptions.isLoginPage} is true.
   * @default undefined (nothing is called)
   * @example
   * onLoggedOut: () => inject(Router).navigateByUrl('/login')
   */
  onLoggedOut?: (notice: LoggedOutNotice) => void;
  /**
   * Whether the app is on the sign-in page now (run in an injection context); no redirect
   * happens there, so it cannot loop.
   * @default () => false
   * @example
   * isLoginPage: () => inject(Router).url.startsWith('/login')
   */
  isLoginPage?: () => boolean;
}

interface Provided {
  session: Session;
  port: FrontEndPort;
  isAllowed: (url: string) => boolean;
  isUnauthorized: (error: HttpErrorResponse) => boolean;
}

const AUTHCHART = new InjectionToken<Provided>('authchart');

function provided(name: string): Provided {
  const value = inject(AUTHCHART, { optional: true });
  if (!value) throw new InvalidOptionsError(`${name} needs provideAuthchart(session) in the application's providers.`);
  return value;
}

/**
 * Give the app the one shared session: for {@link authInterceptor}, {@link injectSession}
 * and {@link injectAuthStatus}, and to send the user to sign in once when it ends. Create
 * the session outside Angular's injectors, once (it starts refreshing when created).
 * @example
 * bootstrapApplication(App, {
 *   providers: [
 *     provideRouter(routes),
 *     provideAuthchart(session, {
 *       allowedOrigins: ['https://api.example.com'],
 *       onLoggedOut: () => inject(Router).navigateByUrl('/login'),
 *       isLoginPage: () => inject(Router).url.startsWith('/login'),
 *     }),
 *     provideHttpClient(withFetch(), withInterceptors([authInterceptor])),
 *   ],
 * })
 */
export function provideAuthchart(source: SessionSource, options: AuthchartOptions = {}): EnvironmentProviders {
  const session = sessionOf(source);
  const policy = originPolicy(options.allowedOrigins, browserPage);
  const isAllowed = (url: string) => policy.target(url) !== null;
  const value: Provided = { session, port: frontEndOf(session), isAllowed, isUnauthorized: options.isUnauthorized ?? ((error) => error.status === 401) };
  return makeEnvironmentProviders([
    { provide: AUTHCHART, useValue: value },
    provideEnvironmentInitializer(() => {
      const { onLoggedOut, isLoginPage } = options;
      if (!onLoggedOut) return;
      const injector = inject(EnvironmentInjector);
      const stop = watchLoggedOut(session, {
        onLoggedOut: (notice) => runInInjectionContext(injector, () => onLoggedOut(notice)),
        isLoginPage: isLoginPage && (() => runInInjectionContext(injector, isLoginPage)),
      });
      inject(DestroyRef).onDestroy(stop);
    }),
  ]);
}

/**
 * A functional interceptor for `HttpClient`: it sets `Authorization: Bearer …` on requests
 * to the allowed origins (waiting for the one shared refresh when the token has expired),
 * and when one is refused with 401, waits for the shared refresh and sends it again, once.
 * A second 401 fails with `UNAUTHORIZED_AFTER_REFRESH` (its `cause` is the
 * `HttpErrorResponse`); a session that has ended fails with `SESSION_EXPIRED`, both
 * `AuthchartError`s. A request that already has an Authorization header goes out untouched.
 * Unsubscribing (a cancelled request) leaves the queue at once.
 * @example
 * provideHttpClient(withFetch(), withInterceptors([authInterceptor]))
 */
export const authInterceptor: HttpInterceptorFn = (request, next) => {
  const { port, isAllowed, isUnauthorized } = provided('authInterceptor');
  if (request.headers.has('authorization') || !isAllowed(request.urlWithParams)) return next(request);

  return new Observable<HttpEvent<unknown>>((subscriber) => {
    const controller = new AbortController();
    let current: Subscription | undefined;

    const send = (credential: Credential, replay: boolean) => {
      if (subscriber.closed) return;
      current = next(request.clone({ setHeaders: { authorization: `Bearer ${credential.accessToken}` } })).subscribe({
        next: (event) => subscriber.next(event),
        error: (error: unknown) => {
          if (!(error instanceof HttpErrorResponse) || !isUnauthorized(error)) return subscriber.error(error);
          // R7: replay once; a second 401 is an error, never another refresh.
          if (replay) return subscriber.error(new UnauthorizedAfterRefreshError(undefined, { cause: error }));
          port.unauthorized(credential.tokenVersion, controller.signal).then(
            (fresh) => send(fresh, true),
            (reason: unknown) => {
              if (!subscriber.closed) subscriber.error(reason);
            },
          );
        },
        complete: () => subscriber.complete(),
      });
    };

    const first = port.credential(controller.signal);
    if (first instanceof Promise) {
      first.then(
        (credential) => send(credential, false),
        (reason: unknown) => {
          if (!subscriber.closed) subscriber.error(reason);
        },
      );
    } else {
      send(first, false);
    }
    return () => {
      controller.abort();
      current?.unsubscribe();
    };
  });
};

/**
 * The session given to {@link provideAuthchart}.
 * @example
 * const session = injectSession()
 */
export function injectSession(): Session {
  return provided('injectSession()').session;
}

/**
 * A signal of a value selected from the session's statechart, updated only when the
 * selected value changes (`compare`); it stops following the session when the injector
 * (component, service) is destroyed. Call it in an injection context.
 * @default compare: Object.is
 * @example
 * readonly queued = injectAuthSelector(selectQueued)
 */
export function injectAuthSelector<T>(selector: (snapshot: RefreshSnapshot) => T, compare: (a: T, b: T) => boolean = Object.is): Signal<T> {
  const { actor } = provided('injectAuthSelector()').session;
  const value = signal(selector(actor.getSnapshot()), { equal: compare });
  const subscription = actor.subscribe((snapshot) => value.set(selector(snapshot)));
  inject(DestroyRef).onDestroy(() => subscription.unsubscribe());
  return value.asReadonly();
}

/**
 * `authenticated`, `refreshing` (requests wait for a refresh) or `loggedOut`, as a signal.
 * @example
 * readonly status = injectAuthStatus()
 * // @if (status() === 'refreshing') { <app-spinner /> }
 */
export function injectAuthStatus(): Signal<SessionStatus> {
  return injectAuthSelector(selectSessionStatus);
}
