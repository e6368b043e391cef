import type { WakeSource } from '../core/wake.js';

/** The part of React Native's `AppState` this uses (`import { AppState } from 'react-native'`). */
export interface AppStateLike {
  /** `active`, `background`, `inactive` (iOS), `unknown`, `extension`. */
  readonly currentState?: string | null;
  addEventListener(type: 'change', listener: (state: string) => void): { remove(): void };
}

/**
 * React Native's wake source: the app coming back to the foreground (`AppState` turning
 * `active` from `background` or `inactive`). A phone suspends JavaScript timers while the
 * app is in the background, so the proactive refresh timer may be long overdue; on resume
 * the session re-checks the clock (R8), as `focus` does in a browser, and refreshes
 * before the first request if the token has expired meanwhile.
 * @example
 * import { AppState } from 'react-native'
 * import { appStateWake } from 'authchart/react-native'
 *
 * const session = createSession({ refresh, store: secureStore(SecureStore), wake: appStateWake(AppState) })
 */
export function appStateWake(appState: AppStateLike): WakeSource {
  return (wake) => {
    let previous = appState.currentState ?? 'active';
    const subscription = appState.addEventListener('change', (state) => {
      if (state === 'active' && previous !== 'active') wake();
      previous = state;
    });
    return () => subscription.remove();
  };
}
