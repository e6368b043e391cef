/**
 * Where a session hears that the host may have slept: a function that starts listening,
 * calls `wake()` on every such moment, and returns how to stop. The session then re-checks
 * the clock (R8). Browsers: `browserWake` (focus, online, visibility), the default there;
 * React Native: `appStateWake(AppState)` from `authchart/react-native`; a worker or a server
 * passes its own, or `false` for none.
 * @example
 * const wake: WakeSource = (wake) => {
 *   const subscription = AppState.addEventListener('change', (state) => state === 'active' && wake())
 *   return () => subscription.remove()
 * }
 */
export type WakeSource = (wake: () => void) => () => void;
