import type { TokenStore } from '../core/ports.js';
import { positiveOption } from '../core/options.js';
import { memoryStore } from '../stores/memory.js';

/**
 * Options of {@link memoryStores}.
 * @example
 * memoryStores({ maxSessions: 50_000 })
 */
export interface MemoryStoresOptions {
  /**
   * Most sessions kept; past it the oldest signed-in one is forgotten (its user signs in
   * again).
   * @default 100000
   */
  maxSessions?: number;
}

/**
 * The token stores of every session of ONE server process, in memory: the `store` option
 * of `createSessionManager`. A session's record outlives the manager dropping the idle
 * session, and goes at logout. For several instances use `redisSessionManager` from
 * `authchart/redis`; with this store each instance would know only its own sign-ins.
 * @example
 * const sessions = createSessionManager({ refresh, store: memoryStores() })
 */
export function memoryStores(options: MemoryStoresOptions = {}): (sessionId: string) => TokenStore {
  const maxSessions = Math.floor(positiveOption('maxSessions', options.maxSessions, 100_000));
  const stores = new Map<string, TokenStore>();
  return (sessionId) => {
    const existing = stores.get(sessionId);
    if (existing) return existing;
    const inner = memoryStore();
    // Created on a read too (the manager checks whether a session exists), but kept only once written.
    const store: TokenStore = {
      get: () => inner.get(),
      set(tokens, setOptions) {
        const written = inner.set(tokens, setOptions);
        if (written && stores.get(sessionId) !== store) {
          stores.set(sessionId, store);
          if (stores.size > maxSessions) stores.delete(stores.keys().next().value!);
        }
        return written;
      },
      clear() {
        inner.clear();
        if (stores.get(sessionId) === store) stores.delete(sessionId);
      },
      subscribe: (listener) => inner.subscribe!(listener),
    };
    return store;
  };
}
