/**
 * authchart: one statechart that ends the token-refresh thundering herd.
 *
 * The root entry holds the session and what you write against it: its types, the errors,
 * the stores and lock that need no other package, and the helpers for your own refresher.
 * Everything else has its own subpath: `authchart/fetch`, `authchart/axios`,
 * `authchart/oauth`, `authchart/presets`, `authchart/cross-tab`, `authchart/react`,
 * `authchart/redis`, `authchart/server`, `authchart/machine` (the statechart itself),
 * `authchart/testing`.
 */
export { createSession } from './core/session.js';
export type { Session, SessionOptions, SessionEvents, SessionStatusReport, LogEntry } from './core/session.js';
export { sessionDefaults } from './core/options.js';
export type {
  TokenSet,
  StoredTokens,
  TokenStore,
  Refresher,
  RefresherContext,
  RefreshedTokens,
  RefreshLock,
  LockHandle,
  MaybePromise,
  DPoPKeyStore,
} from './core/ports.js';
export { memoryDPoPKeys, generateDPoPKeyPair } from './dpop/keys.js';
export type { WakeSource } from './core/wake.js';
export { browserWake } from './wake/browser.js';
export type { LoggedOutReason, RefreshFailure, RefreshTrigger, SessionStatus } from '../machines/refresh.machine.js';
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
  DPoPUnavailableError,
  InvalidOptionsError,
  RefreshError,
  InvalidTokenResponseError,
  LockTimeoutError,
  StoreUnavailableError,
} from './core/errors.js';
export type { RefreshErrorDetails, RefreshFailureKind, RotatedTokens } from './core/errors.js';
export { classifyTokenFailure, httpRefreshError, parseRetryAfter } from './core/http-failure.js';
export { memoryStore } from './stores/memory.js';
export { webStorageStore } from './stores/web-storage.js';
export type { WebStorageStoreOptions } from './stores/web-storage.js';
export { memoryLock } from './locks/memory.js';
export type { MemoryLockOptions } from './locks/memory.js';
