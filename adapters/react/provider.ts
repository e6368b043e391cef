import { createContext, createElement, useContext, useEffect, useInsertionEffect, useMemo, useRef, type ReactNode } from 'react';
import { selectIsLoggedOut, type LoggedOutReason } from '../../machines/refresh.machine.js';
import { InvalidOptionsError } from '../core/errors.js';
import type { Session } from '../core/session.js';
import type { AuthFetch } from '../fetch/auth-fetch.js';

interface AuthContextValue {
  session: Session;
  authFetch: AuthFetch | null;
}

const AuthContext = createContext<AuthContextValue | null>(null);

/** What `onLoggedOut` is told. */
export interface LoggedOutNotice {
  /** Why the session ended: `logout`, `permanentFailures`, `noRefreshToken`, `noSession` (started without tokens), `remote`. */
  reason: LoggedOutReason | null;
}

export interface AuthProviderProps {
  /**
   * The one session the app shares: a `createAuthFetch(…)` front end (then
   * {@link useAuthFetch} gives it) or a `createSession(…)` session. Create it outside React,
   * at module level or with `sharedSession(key, factory)`, never in render: a session
   * starts refreshing when it is created, and Strict Mode renders twice. The provider
   * never disposes it.
   */
  session: Session | AuthFetch;
  /**
   * Called once when the session ends (and once at start when it starts without tokens),
   * to send the user to sign in. Not called again for the same logged-out spell, whatever
   * re-renders, remounts (Strict Mode) or hot reloads happen, nor while
   * {@link AuthProviderProps.isLoginPage} is true. A new spell begins after the next login.
   * @default undefined (nothing is called)
   * @example
   * onLoggedOut={({ reason }) => navigate(`/login?reason=${reason}`)}
   */
  onLoggedOut?: (notice: LoggedOutNotice) => void;
  /**
   * Whether the user is on the sign-in page now; `onLoggedOut` is not called there, so a
   * redirect to it cannot loop (even with full page loads, where each load is a new session).
   * @default () => false
   * @example
   * isLoginPage={() => location.pathname === '/login'}
   */
  isLoginPage?: () => boolean;
  children?: ReactNode;
}

function isAuthFetch(source: Session | AuthFetch): source is AuthFetch {
  return typeof source === 'function' && 'session' in source;
}

/**
 * Sessions whose current logged-out spell has been reported. On `globalThis` so that a
 * hot reload re-executing this module does not report it again; a WeakSet so that it
 * never keeps a session alive.
 */
const NOTIFIED = Symbol.for('authchart.react.loggedOutNotified');
function notified(): WeakSet<Session> {
  const host = globalThis as typeof globalThis & { [NOTIFIED]?: WeakSet<Session> };
  host[NOTIFIED] ??= new WeakSet();
  return host[NOTIFIED];
}

/**
 * Gives its children the one shared session. Hooks below it read the session's actor
 * through `@xstate/react`'s `useSelector`; none of them creates an actor.
 * @example
 * const authFetch = sharedSession('app', () => createAuthFetch({ refresh, allowedOrigins: [api] }))
 *
 * createRoot(el).render(
 *   <StrictMode>
 *     <AuthProvider session={authFetch} onLoggedOut={() => navigate('/login')} isLoginPage={() => location.pathname === '/login'}>
 *       <App />
 *     </AuthProvider>
 *   </StrictMode>,
 * )
 */
export function AuthProvider({ session: source, onLoggedOut, isLoginPage, children }: AuthProviderProps) {
  const value = useMemo<AuthContextValue>(
    () => (isAuthFetch(source) ? { session: source.session, authFetch: source } : { session: source, authFetch: null }),
    [source],
  );
  // The latest callbacks, without re-subscribing when the app passes new closures.
  const callbacks = useRef({ onLoggedOut, isLoginPage });
  useInsertionEffect(() => {
    callbacks.current = { onLoggedOut, isLoginPage };
  });

  const { session } = value;
  useEffect(() => {
    const check = () => {
      if (!selectIsLoggedOut(session.actor.getSnapshot())) {
        notified().delete(session);
        return;
      }
      const { onLoggedOut: notify, isLoginPage: onLoginPage } = callbacks.current;
      if (!notify || notified().has(session) || onLoginPage?.()) return;
      notified().add(session);
      notify({ reason: session.getStatus().loggedOutReason });
    };
    check();
    const subscription = session.actor.subscribe(check);
    return () => subscription.unsubscribe();
  }, [session]);

  return createElement(AuthContext.Provider, { value }, children);
}

function useAuthContext(hook: string): AuthContextValue {
  const value = useContext(AuthContext);
  if (!value) throw new InvalidOptionsError(`${hook}() must be called inside <AuthProvider session={…}>.`);
  return value;
}

/**
 * The session given to the nearest {@link AuthProvider}.
 * @example
 * const session = useSession()
 * useEffect(() => session.on('refreshFailed', ({ failure }) => toast(failure.code)), [session])
 */
export function useSession(): Session {
  return useAuthContext('useSession').session;
}

/**
 * The provider's fetch function (`createAuthFetch`): attaches the token to allowed
 * origins, shares one refresh on 401, replays once. Throws when the provider was given a
 * bare session.
 * @example
 * const authFetch = useAuthFetch()
 * useEffect(() => { authFetch('/api/me').then((r) => r.json()).then(setMe) }, [authFetch])
 */
export function useAuthFetch(): AuthFetch {
  const { authFetch } = useAuthContext('useAuthFetch');
  if (!authFetch) {
    throw new InvalidOptionsError('useAuthFetch() needs <AuthProvider session={createAuthFetch(…)}>; the provider was given a session without fetch.');
  }
  return authFetch;
}
