import { useSelector } from '@xstate/react';
import { useMemo } from 'react';
import { selectSessionStatus, selectState, type RefreshSnapshot, type SessionStatus } from '../../machines/refresh.machine.js';
import type { Session } from '../core/session.js';
import { useSession } from './provider.js';

/**
 * Read the session's statechart with a selector; the component re-renders only when the
 * selected value changes (`compare`). Use the selectors exported by `authchart`
 * (`selectState`, `selectIsWaiting`, `selectQueued`, …).
 * @default compare: Object.is
 * @example
 * const waiting = useAuthSelector(selectIsWaiting)
 * const queued = useAuthSelector(selectQueued)
 */
export function useAuthSelector<T>(selector: (snapshot: RefreshSnapshot) => T, compare?: (a: T, b: T) => boolean): T {
  return useSelector(useSession().actor, selector, compare);
}

/**
 * `authenticated`, `refreshing` (requests wait for a refresh: debouncing, refreshing or
 * backoff) or `loggedOut`.
 * @example
 * if (useAuthStatus() === 'loggedOut') return <Navigate to="/login" />
 */
export function useAuthStatus(): SessionStatus {
  return useAuthSelector(selectSessionStatus);
}

/** What {@link useAuth} returns. Never a token. */
export interface AuthApi {
  /** `authenticated`, `refreshing` or `loggedOut`. */
  status: SessionStatus;
  /** The statechart's state: `idle`, `debouncing`, `refreshing`, `backoff` or `loggedOut`. */
  state: ReturnType<typeof selectState>;
  login: Session['login'];
  logout: Session['logout'];
  /** Refresh now, or join the refresh under way. */
  refresh: Session['refresh'];
  getAccessToken: Session['getAccessToken'];
  session: Session;
}

/**
 * The session's status and actions, for components.
 * @example
 * const { status, state, login, logout, refresh } = useAuth()
 */
export function useAuth(): AuthApi {
  const session = useSession();
  const status = useAuthSelector(selectSessionStatus);
  const state = useAuthSelector(selectState);
  return useMemo(
    () => ({
      status,
      state,
      login: session.login,
      logout: session.logout,
      refresh: session.refresh,
      getAccessToken: session.getAccessToken,
      session,
    }),
    [session, status, state],
  );
}
