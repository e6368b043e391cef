import type { StoredTokens, TokenSet, TokenStore } from '../core/ports.js';
import { pickTokens } from '../core/record.js';

/**
 * The default store: tokens in memory, gone when the process or page goes. Synchronous, so
 * the request path never waits for it.
 * @example
 * const store = memoryStore({ accessToken, refreshToken })
 */
export function memoryStore(initial?: TokenSet): TokenStore {
  let record: StoredTokens | null = null;
  // Versions keep counting across clear(), so an old version can never match again.
  let lastVersion = 0;
  // Made by the first subscriber.
  let listeners: Set<() => void> | undefined;
  const write = (tokens: TokenSet): StoredTokens => {
    // The version added to the picked copy, not spread into another: a spread copy is given a
    // hidden class of its own (some 300 bytes a session).
    const written = pickTokens(tokens) as StoredTokens;
    written.version = ++lastVersion;
    record = written;
    return written;
  };
  if (initial) write(initial);
  return {
    get: () => record,
    set(tokens, options) {
      const expected = options?.expectedVersion;
      if (expected !== undefined && (record?.version ?? 0) !== expected) return null;
      const written = write(tokens);
      if (listeners) for (const listener of listeners) listener();
      return written;
    },
    clear() {
      record = null;
      if (listeners) for (const listener of listeners) listener();
    },
    subscribe(listener) {
      listeners ??= new Set();
      const set = listeners;
      set.add(listener);
      return () => set.delete(listener);
    },
  };
}

export { pickTokens } from '../core/record.js';
