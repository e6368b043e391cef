/**
 * `authchart/svelte`: readables of the session (Svelte stores with a rune-friendly
 * `current`) and a context for the one shared session. Needs `svelte` 5.7 or later. They
 * hold no auth logic: they read the session's statechart with selectors and call the
 * session's methods.
 */
export { authSelector, authStatus, authState, setAuthContext, getSession, getAuthFetch, onLoggedOut } from './stores.js';
export type { AuthReadable } from './stores.js';
export type { LoggedOutNotice, LoggedOutOptions } from '../bindings/logged-out.js';
export type { SessionSource } from '../bindings/source.js';
export {
  selectState,
  selectSessionStatus,
  selectIsWaiting,
  selectIsLoggedOut,
  selectTokenVersion,
  selectQueued,
} from '../../machines/refresh.machine.js';
export type { RefreshSnapshot, SessionStatus, LoggedOutReason } from '../../machines/refresh.machine.js';
