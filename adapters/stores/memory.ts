import type { StoredTokens, TokenSet, TokenStore } from '../core/ports.js';

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
  const listeners = new Set<() => void>();
  const write = (tokens: TokenSet): StoredTokens => {
    record = { ...pickTokens(tokens), version: ++lastVersion };
    return record;
  };
  if (initial) write(initial);
  return {
    get: () => record,
    set(tokens, options) {
      const expected = options?.expectedVersion;
      if (expected !== undefined && (record?.version ?? 0) !== expected) return null;
      const written = write(tokens);
      for (const listener of listeners) listener();
      return written;
    },
    clear() {
      record = null;
      for (const listener of listeners) listener();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Copy only the token fields, so nothing else a caller passed ends up stored. */
export function pickTokens(tokens: TokenSet): TokenSet {
  const picked: TokenSet = { accessToken: tokens.accessToken };
  if (tokens.refreshToken !== undefined) picked.refreshToken = tokens.refreshToken;
  if (tokens.expiresAt !== undefined) picked.expiresAt = tokens.expiresAt;
  return picked;
}
