/**
 * `authchart/angular`: a functional `HttpInterceptorFn` for `HttpClient`, environment
 * providers for the one shared session, and signals of its status. Needs `@angular/core`
 * and `@angular/common` 20 or later (tested with 21) and `rxjs` 7. They hold no auth
 * logic: requests go through the session's queue, status is read with selectors.
 */
export { provideAuthchart, authInterceptor, injectSession, injectAuthSelector, injectAuthStatus } from './providers.js';
export type { AuthchartOptions } from './providers.js';
export type { LoggedOutNotice } from '../bindings/logged-out.js';
export type { SessionSource } from '../bindings/source.js';
export type { AllowedOrigins } from '../core/origins.js';
export {
  selectState,
  selectSessionStatus,
  selectIsWaiting,
  selectIsLoggedOut,
  selectTokenVersion,
  selectQueued,
} from '../../machines/refresh.machine.js';
export type { RefreshSnapshot, SessionStatus, LoggedOutReason } from '../../machines/refresh.machine.js';
