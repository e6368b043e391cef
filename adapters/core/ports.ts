/**
 * The ports: what authchart needs from the outside world. Each has drivers in
 * `adapters/stores`, `adapters/locks` and `adapters/oauth`; write your own against these
 * interfaces.
 */

export type MaybePromise<T> = T | Promise<T>;

/** A token set as the app knows it. */
export interface TokenSet {
  accessToken: string;
  /** Absent when the server gave none; without it the session cannot be refreshed. */
  refreshToken?: string;
  /** Access-token expiry, epoch milliseconds, when known. */
  expiresAt?: number;
  /**
   * How the access token is sent: `'DPoP'` (bound to the session's DPoP key: sent as
   * `Authorization: DPoP …` with a proof) or `'Bearer'`. Case-insensitive, as a token
   * answer's `token_type` (oauth4webapi gives it in lower case); stored as `'DPoP'` or
   * `'Bearer'`. `oauthRefresher` records it from every answer when DPoP is on. Left out, the
   * session decides: DPoP when it has a `dpop` key store, Bearer otherwise.
   * @default undefined (by the session)
   * @example
   * await session.login({ accessToken: tokens.access_token, refreshToken: tokens.refresh_token, tokenType: tokens.token_type })
   */
  tokenType?: string;
}

/** A token set as a store holds it: one record, written atomically, with a version. */
export interface StoredTokens extends TokenSet {
  /** Incremented on every write; used for compare-and-set. */
  version: number;
}

/**
 * Where tokens live. One record per session, written as a whole, so a reader never sees a
 * new access token with an old refresh token. `get` may be synchronous (memory, Web
 * Storage) or asynchronous (IndexedDB, Redis).
 */
export interface TokenStore {
  /** The current record, or null when there are no tokens (or what is stored is unreadable). */
  get(): MaybePromise<StoredTokens | null>;
  /**
   * Write a new record. With `expectedVersion`, write only if the stored version is still
   * that one (compare-and-set; `0` means "only if empty"), and return null otherwise.
   */
  set(tokens: TokenSet, options?: { expectedVersion?: number }): MaybePromise<StoredTokens | null>;
  /** Remove the record. */
  clear(): MaybePromise<void>;
  /** Optional: be told when another tab or instance changed the record. */
  subscribe?(listener: () => void): () => void;
}

/** What a refresher returns. */
export interface RefreshedTokens {
  accessToken: string;
  /** The rotated refresh token. When absent, the one presented is kept. */
  refreshToken?: string;
  /** Lifetime of the access token, seconds (OAuth `expires_in`). */
  expiresIn?: number;
  /** Or its absolute expiry, epoch milliseconds. */
  expiresAt?: number;
  /** The answer's `token_type` (`'DPoP'` or `'Bearer'`), when the refresher knows it (see {@link TokenSet.tokenType}). */
  tokenType?: string;
}

/**
 * What a refresher is given besides the refresh token.
 * @example
 * const refresh: Refresher = async (refreshToken, { signal, dpopKeyPair }) => {
 *   const DPoP = dpopKeyPair ? oauth.DPoP(client, dpopKeyPair) : undefined
 *   // … the token call, with the proof when DPoP is on
 * }
 */
export interface RefresherContext {
  /** Aborted when the refresh is given up (timeout, logout, dispose). */
  signal: AbortSignal;
  /**
   * The session's DPoP key pair (RFC 9449), when the session has a {@link DPoPKeyStore}:
   * sign the token call's proof with it, since the refresh token is bound to it.
   * `oauthRefresher` does; other refreshers may ignore it.
   */
  dpopKeyPair?: CryptoKeyPair;
}

/**
 * How to refresh: given the current refresh token, get new tokens. Throw a `RefreshError`
 * to say whether the failure is `transient` or `permanent`; anything else thrown is
 * classified (network errors and timeouts are transient). Honour `signal`.
 * @example
 * const refresh: Refresher = async (refreshToken, { signal }) => {
 *   const res = await fetch('/api/token/refresh/', { method: 'POST', body: JSON.stringify({ refresh: refreshToken }), signal })
 *   if (res.status === 401) throw new RefreshError({ kind: 'permanent', reason: 'invalid_grant', status: 401 })
 *   const body = await res.json()
 *   return { accessToken: body.access, refreshToken: body.refresh }
 * }
 */
export type Refresher = (refreshToken: string, context: RefresherContext) => Promise<RefreshedTokens>;

/**
 * Where a session's DPoP key pair lives (RFC 9449). A DPoP-bound refresh token works only
 * with the key it is bound to, so every tab or instance that may refresh the session must
 * get the same key pair from here. Drivers: `memoryDPoPKeys()` (one process),
 * `indexedDbDPoPKeys()` from `authchart/cross-tab` (every tab of an origin, non-extractable).
 * @example
 * const session = createSession({ refresh: oauthRefresher({ tokenEndpoint, clientId }), dpop: memoryDPoPKeys() })
 */
export interface DPoPKeyStore {
  /** The key pair; created once (for every tab or instance sharing the store) when there is none. */
  getOrCreate(): Promise<CryptoKeyPair>;
  /** Replace the key pair with a new one and return it: a new sign-in starts with a new key. */
  rotate(): Promise<CryptoKeyPair>;
  /** Forget the key pair (sign-out). */
  clear(): Promise<void>;
}

/** A held lock. Release is idempotent. */
export interface LockHandle {
  release(): MaybePromise<void>;
  /**
   * Optional: aborts when this handle has lost the lock without releasing it (taken over from
   * a holder that stopped answering, such as a frozen tab; held past the driver's
   * `maxHoldMs`). The refresh checks it before its token call, so a holder that resumes after
   * losing the lock never presents the refresh token the new holder is presenting; a late
   * write of its tokens is refused by the store's compare-and-set.
   * @example
   * const handle = await lock.acquire({ signal, timeoutMs: 10_000 })
   * if (handle.signal?.aborted) throw handle.signal.reason
   */
  readonly signal?: AbortSignal;
}

/**
 * Who may refresh. The machine already guarantees one refresh per session in one process;
 * a lock extends that across tabs (Web Locks) or server instances (Redis). After
 * acquiring it, authchart re-reads the store and adopts tokens someone else refreshed.
 */
export interface RefreshLock {
  /** Resolve when held; reject (or throw a `LOCK_TIMEOUT` error) after `timeoutMs`; stop waiting when `signal` aborts. */
  acquire(options: { signal: AbortSignal; timeoutMs: number }): Promise<LockHandle>;
}
