/**
 * `authchart/react-native`: what a session needs on React Native and Expo: a wake source
 * for `AppState` (resume re-checks the clock) and a token store for Expo SecureStore that
 * splits records larger than its ~2 KB values and writes them atomically. Nothing of
 * `react-native` or `expo-secure-store` is imported: pass them in.
 */
export { appStateWake } from './app-state-wake.js';
export type { AppStateLike } from './app-state-wake.js';
export { secureStore } from './secure-store.js';
export type { SecureStoreLike, SecureStoreTokenStoreOptions } from './secure-store.js';
