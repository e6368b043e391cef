/**
 * authchart: one statechart that ends the token-refresh thundering herd.
 * The core: the session, the errors, the token stores, the in-process lock, the machine and its selectors.
 * Front ends live in subpaths: `authchart/fetch`, `authchart/oauth`, `authchart/redis`, `authchart/testing`.
 */
export {
  refreshMachine,
  defaultRefreshOptions,
  backoffDelay,
  selectState,
  selectSessionStatus,
  selectIsWaiting,
  selectIsLoggedOut,
  selectTokenVersion,
  selectQueued,
} from '../machines/refresh.machine.js';
export type {
  RefreshMachine,
  RefreshSnapshot,
  RefreshContext,
  RefreshEvent,
  RefreshEmitted,
  RefreshFailure,
  RefreshMachineOptions,
  RefreshMachineInput,
  RefreshSuccess,
  LoggedOutReason,
  SessionStatus,
} from '../machines/refresh.machine.js';
export { createSession, sessionApi } from './core/session.js';
export type { Session, SessionApi, SessionOptions, SessionEvents, SessionStatusReport, LogEntry, Credential } from './core/session.js';
export type { TokenSet, StoredTokens, TokenStore, Refresher, RefresherContext, RefreshedTokens, RefreshLock, LockHandle, MaybePromise, DPoPKeyStore } from './core/ports.js';
export { memoryDPoPKeys, generateDPoPKeyPair } from './dpop/keys.js';
export {
  ErrorCode,
  AuthchartError,
  isAuthchartError,
  SessionExpiredError,
  RefreshUnavailableError,
  QueueTimeoutError,
  UnauthorizedAfterRefreshError,
  NonReplayableBodyError,
  DisposedError,
  InvalidOptionsError,
  RefreshError,
  InvalidTokenResponseError,
  RedisUnavailableError,
  parseRetryAfter,
  classifyTokenFailure,
} from './core/errors.js';
export type { RefreshErrorDetails, RefreshFailureKind } from './core/errors.js';
export { memoryStore } from './stores/memory.js';
export { webStorageStore } from './stores/web-storage.js';
export type { WebStorageStoreOptions } from './stores/web-storage.js';
export { memoryLock } from './locks/memory.js';
export type { MemoryLockOptions } from './locks/memory.js';
export { createSessionManager } from './server/session-manager.js';
export type { SessionManager, SessionManagerOptions, ManagedSessionOptions } from './server/session-manager.js';
