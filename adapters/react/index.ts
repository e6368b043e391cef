/**
 * `authchart/react`: a provider and hooks over one shared session, on `@xstate/react`.
 * Needs `react` (18 or 19) and `@xstate/react` (6). The hooks hold no auth logic: they
 * read the session's actor with selectors and call the session's methods.
 */
export { AuthProvider, useSession, useAuthFetch } from './provider.js';
export type { AuthProviderProps, LoggedOutNotice } from './provider.js';
export { useAuth, useAuthSelector, useAuthStatus } from './hooks.js';
export type { AuthApi } from './hooks.js';
export { sharedSession, disposeSharedSession } from './shared-session.js';
export type { SessionStatus, LoggedOutReason } from '../../machines/refresh.machine.js';
