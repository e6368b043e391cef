/**
 * Faithful fakes of the React Native and Expo APIs `authchart/react-native` takes (there is
 * no device here). They follow the documented behaviour of the real ones:
 *
 * - `expo-secure-store`: `getItemAsync` / `setItemAsync` / `deleteItemAsync`, each
 *   asynchronous (a native call: it resolves on a later turn, and calls interleave); keys
 *   must be non-empty and hold only letters, digits, `.`, `-` and `_` (else it throws);
 *   values must be strings. Values above 2048 bytes only draw a warning from the real
 *   module (and may fail in the iOS keychain); this fake refuses them, so a test proves the
 *   store never writes one. A missing key reads as null; deleting one is not an error.
 *   One write is atomic per key (a keychain item is replaced whole).
 * - `AppState` from `react-native`: `currentState` and `addEventListener('change', …)`
 *   returning a subscription with `remove()`.
 */
import type { AppStateLike } from '../../adapters/react-native/index.js';
import type { SecureStoreLike } from '../../adapters/react-native/index.js';

export const SECURE_STORE_VALUE_LIMIT = 2048;

export interface FakeSecureStore extends SecureStoreLike {
  /** The keychain's content (tests look, never touch). */
  readonly items: ReadonlyMap<string, string>;
  /** Largest value ever written, in UTF-8 bytes. */
  readonly largestValue: number;
  /** Another process's handle on the same keychain: same items, its own JavaScript realm. */
  otherProcess(): SecureStoreLike;
  /** Make every call fail (keychain locked, module missing). */
  failing: boolean;
}

/**
 * A fake SecureStore. `maxDelayMs` spreads each call over 0…maxDelayMs ms (timers, so reads
 * and writes of different callers interleave as native calls do); 0 answers on the next
 * microtask turn (for suites on fake timers).
 */
export function fakeSecureStore(options: { maxDelayMs?: number; random?: () => number } = {}): FakeSecureStore {
  const items = new Map<string, string>();
  const random = options.random ?? Math.random;
  const maxDelayMs = options.maxDelayMs ?? 0;
  let largestValue = 0;
  const state = { failing: false };
  const later = <T>(work: () => T): Promise<T> =>
    new Promise((resolve, reject) => {
      const run = () => {
        try {
          if (state.failing) throw new Error('Could not access the keychain.');
          resolve(work());
        } catch (error) {
          reject(error);
        }
      };
      // Without a delay, still on a later turn (a native call never answers synchronously),
      // and one that fake timers do not hold back.
      if (maxDelayMs === 0) void Promise.resolve().then(run);
      else setTimeout(run, Math.floor(random() * (maxDelayMs + 1)));
    });
  const checkKey = (key: string) => {
    if (typeof key !== 'string' || !/^[\w.-]+$/.test(key)) {
      throw new Error('Invalid key provided to SecureStore. Keys must not be empty and contain only alphanumeric characters, ".", "-", and "_".');
    }
  };
  const handle = (): SecureStoreLike => ({
    // Async functions, as in expo-secure-store: a bad key or value is a rejection, not a throw.
    async getItemAsync(key) {
      checkKey(key);
      return later(() => items.get(key) ?? null);
    },
    async setItemAsync(key, value) {
      checkKey(key);
      if (typeof value !== 'string')
        throw new Error('Invalid value provided to SecureStore. Values must be strings; consider JSON-encoding your values if they are serializable.');
      const bytes = new TextEncoder().encode(value).length;
      if (bytes > SECURE_STORE_VALUE_LIMIT) throw new Error(`Value being stored in SecureStore is larger than ${SECURE_STORE_VALUE_LIMIT} bytes (${bytes}).`);
      return later(() => {
        largestValue = Math.max(largestValue, bytes);
        items.set(key, value);
      });
    },
    async deleteItemAsync(key) {
      checkKey(key);
      return later(() => {
        items.delete(key);
      });
    },
  });
  const own = handle();
  return {
    ...own,
    items,
    get largestValue() {
      return largestValue;
    },
    otherProcess: handle,
    get failing() {
      return state.failing;
    },
    set failing(value) {
      state.failing = value;
    },
  };
}

/** A fake `AppState`: `go(state)` is the OS moving the app. */
export function fakeAppState(initial = 'active') {
  const listeners = new Set<(state: string) => void>();
  const appState: AppStateLike & { currentState: string; go(state: string): void; readonly listeners: number } = {
    currentState: initial,
    addEventListener(type, listener) {
      if (type !== 'change') throw new Error(`unexpected AppState event ${type}`);
      listeners.add(listener);
      return { remove: () => listeners.delete(listener) };
    },
    go(state) {
      appState.currentState = state;
      for (const listener of [...listeners]) listener(state);
    },
    get listeners() {
      return listeners.size;
    },
  };
  return appState;
}
