/** The public types of a session: its options, its API, its events and its status. */
import type { Actor, InspectionEvent, Observer } from 'xstate';
import type { LoggedOutReason, RefreshFailure, RefreshMachine, RefreshMachineOptions, RefreshTrigger, SessionStatus } from '../../machines/refresh.machine.js';
import type { AuthchartError, RefreshError } from './errors.js';
import type { DPoPKeyStore, RefreshLock, Refresher, TokenSet, TokenStore } from './ports.js';
import type { WakeSource } from './wake.js';

/**
 * Options of a session. The statechart's tunables ({@link RefreshMachineOptions}) are
 * accepted here too. Every option is validated when the session is created; a wrong one
 * throws `INVALID_OPTIONS` naming it. Defaults: `sessionDefaults`.
 */
export interface SessionOptions extends Partial<RefreshMachineOptions> {
  /** How to refresh: `oauthRefresher(...)` from `authchart/oauth`, or your own function. */
  refresh: Refresher;
  /**
   * Where tokens live.
   * @default memoryStore()
   */
  store?: TokenStore;
  /** Who may refresh across tabs or instances. Without one, the machine's single flight holds within this process. */
  lock?: RefreshLock;
  /**
   * Turn on DPoP (RFC 9449): the session's key pair, shared by every tab or instance that may
   * refresh it. Token calls carry a proof signed with it (`oauthRefresher` binds the tokens
   * to it), and so does every request the fetch and axios front ends send with a DPoP-bound
   * token (`Authorization: DPoP …`, a `DPoP` proof with `ath`, the origin's nonce); a token
   * recorded as Bearer (`tokenType`) is sent as Bearer. Sign-out forgets the key. Start a
   * sign-in with `await keys.rotate()` and exchange the authorization code with that key
   * pair, so a new session has a new key. The proof code for requests is loaded the first
   * time a DPoP-bound token is sent; without this option it is never loaded. See docs/dpop.md.
   * @default undefined (Bearer tokens)
   * @example
   * const keys = indexedDbDPoPKeys() // authchart/cross-tab; memoryDPoPKeys() in one process; redisDPoPKeys() on servers
   * createSession({ refresh: oauthRefresher({ tokenEndpoint, clientId }), store, lock, dpop: keys })
   */
  dpop?: DPoPKeyStore;
  /** Tokens to sign in with at creation (written to the store). Otherwise the store's tokens, if any, are used. */
  tokens?: TokenSet;
  /**
   * Where the refresh token lives. `'store'`: with the access token, presented by the
   * refresher. `'cookie'`: in an httpOnly cookie that JavaScript never sees and the browser
   * sends to the refresh endpoint (`credentials: 'include'`); the store then holds only
   * access tokens, the refresher is called with `''`, and a missing refresh token does not
   * end the session (the endpoint's 401 does). Single flight, queue, backoff, logout rules
   * and the cross-tab lock are unchanged: several tabs refreshing with one rotating cookie
   * is the same race.
   * @default 'store'
   */
  refreshTokenIn?: 'store' | 'cookie';
  /**
   * Longest a request waits for a refresh before it fails with `QUEUE_TIMEOUT`.
   * @default 30000
   */
  maxWaitMs?: number;
  /**
   * Bound of one refresh call; past it the attempt counts as a transient failure.
   * @default 10000
   */
  refreshTimeoutMs?: number;
  /**
   * Bound of waiting for the refresh lock.
   * @default 10000
   */
  lockTimeoutMs?: number;
  /**
   * Bound of one token-store call (read, write, clear), whatever the store. Past it the call
   * fails with `STORE_UNAVAILABLE` (transient): a refresh backs off and retries, new tokens
   * are kept in memory and written later, and the session recovers by itself when the store
   * answers again.
   * @default 5000
   */
  storeTimeoutMs?: number;
  /** Debug events, never with a secret in them. A logger that throws is ignored. */
  logger?: (entry: LogEntry) => void;
  /**
   * An XState inspector: an observer such as `createBrowserInspector().inspect` from
   * `@statelyai/inspect`, or a function called with every inspection event. Tokens never
   * reach it (the machine holds none); an inspector that throws is ignored.
   * @example
   * import { createBrowserInspector } from '@statelyai/inspect'
   * const authFetch = createAuthFetch({ refresh, allowedOrigins, inspect: createBrowserInspector().inspect })
   */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /**
   * Refresh this long before a known expiry, so that in steady state no request sees a 401.
   * Never more than half the token's lifetime, never sooner than `minRefreshIntervalMs`.
   * @default 30000
   */
  leewayMs?: number;
  /**
   * Refresh before the expiry instead of waiting for a 401 or an expired token (R8),
   * while the session is in use (R13: see `keepAlive`).
   * @default true
   */
  proactive?: boolean;
  /**
   * Refresh ahead of the expiry even while nothing uses the session. By default a session
   * refreshes ahead only once a request has used its current token; an idle one refreshes
   * on its next use instead, so an app left open (or a process never disposed) does not call
   * the token endpoint every half-lifetime forever.
   * @default false
   */
  keepAlive?: boolean;
  /**
   * Floor of the proactive schedule: never refresh ahead sooner than this after tokens
   * arrive, whatever their lifetime or the clocks say (R12). An expiry known only as an
   * absolute time (a JWT's `exp` alone, a refresher's `expiresAt`) that is less than this
   * ahead on arrival is not trusted either: the token is used until a 401.
   * @default 5000
   */
  minRefreshIntervalMs?: number;
  /**
   * Where the session hears that the host may have slept, to re-check the clock (timers
   * drift while a machine sleeps or a tab is in the background): a {@link WakeSource}, or
   * `false` for none.
   * @default browserWake (focus, online, visibilitychange; nothing outside a browser)
   */
  wake?: WakeSource | false;
  /** @deprecated Use `wake: false`. */
  wakeEvents?: boolean;
  /**
   * Clock for expiries.
   * @default Date.now
   */
  now?: () => number;
}

/** A debug event for `logger`. */
export type LogEntry =
  | { type: 'state'; from: string; to: string; queued: number }
  | { type: 'refresh.start'; attempt: number; trigger: RefreshTrigger }
  | { type: 'refresh.done'; source: 'server' | 'store'; durationMs: number }
  | { type: 'refresh.warning'; code: string; reason: string }
  | { type: 'refresh.failed'; kind: RefreshFailure['kind']; code: string; reason: string; status?: number; willRetry: boolean }
  | { type: 'queue.released'; count: number }
  | { type: 'queue.rejected'; code: string; count: number }
  | { type: 'loggedOut'; reason: LoggedOutReason };

/** Events for {@link Session.on}. */
export interface SessionEvents {
  refreshed: { tokenVersion: number; source: 'server' | 'store'; trigger: RefreshTrigger; expiresAt: number | null };
  refreshFailed: { error: RefreshError | null; failure: RefreshFailure; attempt: number; willRetry: boolean };
  loggedOut: { reason: LoggedOutReason };
  /**
   * Something went wrong that the session survived: part of a refresh answer was refused
   * (an `id_token` that failed validation: `INVALID_TOKEN_RESPONSE`), or the store failed
   * (`STORE_UNAVAILABLE`: the tokens are kept in memory and written later). The error says
   * what to fix.
   */
  warning: { error: AuthchartError };
}

/** What {@link Session.getStatus} returns. Never a secret. */
export interface SessionStatusReport {
  state: 'idle' | 'debouncing' | 'refreshing' | 'backoff' | 'loggedOut';
  status: SessionStatus;
  tokenVersion: number;
  expiresAt: number | null;
  hasRefreshToken: boolean;
  attempt: number;
  permanentFailures: number;
  /** Requests waiting for a refresh now. */
  queued: number;
  lastRefresh: { at: number; outcome: 'ok' | 'transient' | 'permanent'; source?: 'server' | 'store'; durationMs: number } | null;
  lastError: { kind: RefreshFailure['kind']; code: string; reason: string; status?: number } | null;
  loggedOutReason: LoggedOutReason | null;
  /** New tokens the store has not taken yet (its writes failed); they are used, and written again later. */
  unsavedTokens: boolean;
}

export interface Session {
  /** A valid access token, refreshing first if needed (single flight with everything else). */
  getAccessToken(options?: { signal?: AbortSignal }): Promise<string>;
  /** Sign in: store the tokens and release anything waiting. */
  login(tokens: TokenSet): Promise<void>;
  /**
   * Tokens that arrived some other way (a server refreshed them and sent them along, an
   * `X-Token-Refreshed` answer): store them and release anything waiting. Never starts a
   * refresh; ignored once logged out. A missing refresh token keeps the current one. An
   * older JWT (by `iat`, then `exp`) never replaces a newer one; opaque tokens: the last
   * one handed over wins. During a refresh, the rotated refresh token is never lost: a set
   * carrying a refresh token this session has rotated away is older than what it holds, and
   * is ignored.
   */
  updateTokens(tokens: TokenSet): Promise<void>;
  /** Sign out: reject what waits, clear the store. */
  logout(): Promise<void>;
  /** Refresh now (or join the refresh under way). Resolves when new tokens are held. */
  refresh(options?: { signal?: AbortSignal }): Promise<void>;
  on<K extends keyof SessionEvents>(type: K, listener: (event: SessionEvents[K]) => void): () => void;
  getStatus(): SessionStatusReport;
  /** Stop the machine, release the lock, reject what waits. */
  dispose(): Promise<void>;
  /**
   * The running statechart actor (for `@xstate/react`, inspection, tests). A session that
   * nothing has used yet, and that has no `inspect`, runs none: it starts on the first access.
   */
  readonly actor: Actor<RefreshMachine>;
}
