/**
 * "Send the user to sign in, once": what every framework binding does when the session
 * ends. Shared here so that Vue, Svelte and Angular behave as the React provider does.
 */
import { selectIsLoggedOut, type LoggedOutReason } from '../../machines/refresh.machine.js';
import type { Session } from '../core/session.js';

/** What `onLoggedOut` is told. */
export interface LoggedOutNotice {
  /** Why the session ended: `logout`, `permanentFailures`, `noRefreshToken`, `noSession` (started without tokens), `remote`. */
  reason: LoggedOutReason | null;
}

export interface LoggedOutOptions {
  /**
   * Called once when the session ends (and once at start when it starts without tokens),
   * to send the user to sign in. Not called again for the same logged-out spell, whatever
   * components mount, remount or hot-reload, nor while {@link LoggedOutOptions.isLoginPage}
   * is true. A new spell begins after the next login.
   * @default undefined (nothing is called)
   * @example
   * onLoggedOut: ({ reason }) => router.push({ path: '/login', query: { reason } })
   */
  onLoggedOut?: (notice: LoggedOutNotice) => void;
  /**
   * Whether the user is on the sign-in page now; `onLoggedOut` is not called there, so a
   * redirect to it cannot loop (even with full page loads, where each load is a new session).
   * @default () => false
   * @example
   * isLoginPage: () => location.pathname === '/login'
   */
  isLoginPage?: () => boolean;
}

/** Sessions whose current logged-out spell has been reported; on `globalThis` so a hot reload does not report it again. */
const NOTIFIED = Symbol.for('authchart.bindings.loggedOutNotified');
function notified(): WeakSet<Session> {
  const host = globalThis as typeof globalThis & { [NOTIFIED]?: WeakSet<Session> };
  host[NOTIFIED] ??= new WeakSet();
  return host[NOTIFIED];
}

/** Watch `session` and call `onLoggedOut` once per logged-out spell. Returns how to stop. */
export function watchLoggedOut(session: Session, options: LoggedOutOptions): () => void {
  const check = () => {
    if (!selectIsLoggedOut(session.actor.getSnapshot())) {
      notified().delete(session);
      return;
    }
    if (!options.onLoggedOut || notified().has(session) || options.isLoginPage?.()) return;
    notified().add(session);
    options.onLoggedOut({ reason: session.getStatus().loggedOutReason });
  };
  check();
  const subscription = session.actor.subscribe(check);
  return () => subscription.unsubscribe();
}
