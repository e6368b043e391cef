/**
 * `authchart/vue`: a Vue 3 plugin and composables over one shared session. Needs `vue`
 * 3.3 or later. The composables hold no auth logic: they read the session's statechart
 * with selectors (as refs) and call the session's methods.
 */
export { createAuthchart, useSession, useAuthFetch, useAuthSelector, useAuth } from './plugin.js';
export type { AuthchartPluginOptions, AuthApi } from './plugin.js';
export type { LoggedOutNotice } from '../bindings/logged-out.js';
export {
  selectState,
  selectSessionStatus,
  selectIsWaiting,
  selectIsLoggedOut,
  selectTokenVersion,
  selectQueued,
} from '../../machines/refresh.machine.js';
export type { RefreshSnapshot, SessionStatus, LoggedOutReason } from '../../machines/refresh.machine.js';
