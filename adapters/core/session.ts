import { createActor, fromPromise, type Actor, type InspectionEvent, type Observer } from 'xstate';
import {
  defaultRefreshOptions,
  proactiveDelay,
  refreshMachine,
  refreshTime,
  selectSessionStatus,
  selectState,
  type LoggedOutReason,
  type RefreshEmitted,
  type RefreshFailure,
  type RefreshMachine,
  type RefreshMachineOptions,
  type RefreshReason,
  type SessionStatus,
} from '../../machines/refresh.machine.js';
import {
  type AuthchartError,
  DisposedError,
  QueueTimeoutError,
  RefreshUnavailableError,
  SessionExpiredError,
  type RefreshError,
} from './errors.js';
import type { DPoPKeyStore, RefreshLock, Refresher, StoredTokens, TokenSet, TokenStore } from './ports.js';
import { jwtExpiresAt } from './jwt.js';
import { runRefresh } from './refresh-task.js';
import { memoryStore } from '../stores/memory.js';
import { Waiters, type Credential } from './waiters.js';
import { attachFrontEnd, type FrontEndPort } from './front-end.js';

export type { Credential } from './waiters.js';

/** Options of a session. The statechart's tunables ({@link RefreshMachineOptions}) are accepted here too. */
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
   * to it); sign-out forgets it. Start a sign-in with `await keys.rotate()` and exchange the
   * authorization code with that key pair, so a new session has a new key.
   * @default undefined (Bearer tokens)
   * @example
   * const keys = indexedDbDPoPKeys() // authchart/cross-tab; memoryDPoPKeys() in one process
   * createSession({ refresh: oauthRefresher({ tokenEndpoint, clientId }), store, lock, dpop: keys })
   */
  dpop?: DPoPKeyStore;
  /** Tokens to sign in with at creation (written to the store). Otherwise the store's tokens, if any, are used. */
  tokens?: TokenSet;
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
  /** Debug events, never with a secret in them. */
  logger?: (entry: LogEntry) => void;
  /**
   * An XState inspector: an observer such as `createBrowserInspector().inspect` from
   * `@statelyai/inspect`, or a function called with every inspection event. Tokens never
   * reach it (the machine holds none).
   * @example
   * import { createBrowserInspector } from '@statelyai/inspect'
   * const authFetch = createAuthFetch({ refresh, allowedOrigins, inspect: createBrowserInspector().inspect })
   */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /**
   * Refresh this long before a known expiry (`expires_in`, or `expiresAt` given at login),
   * so that in steady state no request sees a 401. Never more than half the token's
   * lifetime. Set `proactive: false` to refresh only on 401s.
   * @default 30000
   */
  leewayMs?: number;
  /**
   * Refresh before the expiry instead of waiting for a 401 (DESIGN rule 8).
   * @default true
   */
  proactive?: boolean;
  /**
   * In a browser, re-check the clock on `focus`, `online` and `visibilitychange` (timers
   * drift while a machine sleeps or a tab is in the background).
   * @default true
   */
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
  | { type: 'refresh.start'; attempt: number; reason: RefreshReason }
  | { type: 'refresh.done'; source: 'server' | 'store'; durationMs: number }
  | { type: 'refresh.warning'; code: string }
  | { type: 'refresh.failed'; kind: RefreshFailure['kind']; reason: string; status?: number; willRetry: boolean }
  | { type: 'queue.released'; count: number }
  | { type: 'queue.rejected'; code: string; count: number }
  | { type: 'loggedOut'; reason: LoggedOutReason };

/** Events for {@link Session.on}. */
export interface SessionEvents {
  refreshed: { tokenVersion: number; source: 'server' | 'store'; reason: RefreshReason; expiresAt: number | null };
  refreshFailed: { error: RefreshError | null; failure: RefreshFailure; attempt: number; willRetry: boolean };
  loggedOut: { reason: LoggedOutReason };
  /**
   * A refresh succeeded, but part of the answer was refused (for instance an `id_token`
   * that failed validation). The tokens were kept; the error says what to fix.
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
  queued: number;
  lastRefresh: { at: number; outcome: 'ok' | 'transient' | 'permanent'; source?: 'server' | 'store'; durationMs: number } | null;
  lastError: { kind: RefreshFailure['kind']; code: string; status?: number } | null;
  loggedOutReason: LoggedOutReason | null;
}

export interface Session {
  /** A valid access token, refreshing first if needed (single flight with everything else). */
  getAccessToken(options?: { signal?: AbortSignal }): Promise<string>;
  /** Sign in: store the tokens and release anything waiting. */
  login(tokens: TokenSet): Promise<void>;
  /**
   * Tokens that arrived some other way (a server refreshed them and sent them along, an
   * `X-Token-Refreshed` answer): store them and release anything waiting. Never starts a
   * refresh; ignored once logged out. A missing refresh token keeps the current one.
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
  /** The running statechart actor (for `@xstate/react`, inspection, tests). */
  readonly actor: Actor<RefreshMachine>;
}

/** The part of a session that front ends put on what they return. */
export type SessionApi = Pick<Session, 'login' | 'logout' | 'refresh' | 'updateTokens' | 'getAccessToken' | 'on' | 'getStatus' | 'dispose'> & {
  readonly session: Session;
};

/** The session's API as front ends expose it (its methods need no `this`). */
export function sessionApi(session: Session): SessionApi {
  const { login, logout, refresh, updateTokens, getAccessToken, on, getStatus, dispose } = session;
  return { session, login, logout, refresh, updateTokens, getAccessToken, on, getStatus, dispose };
}

/**
 * Create a session: one statechart, one token store, one queue.
 * @example
 * const session = createSession({ refresh: oauthRefresher({ tokenEndpoint, clientId }), tokens })
 * const token = await session.getAccessToken()
 */
export function createSession(options: SessionOptions): Session {
  const store = options.store ?? memoryStore();
  const now = options.now ?? Date.now;
  const log = options.logger;
  const maxWaitMs = options.maxWaitMs ?? defaultRefreshOptions.maxWaitMs;

  let held: { tokens: StoredTokens; tokenVersion: number } | null = null;
  let versions = 0;
  let disposed = false;
  let lastRefresh: SessionStatusReport['lastRefresh'] = null;
  let lastRefreshError: RefreshError | null = null;
  let refreshStartedAt = 0;
  let selfWrites = 0;
  let storeOps: Promise<unknown> = Promise.resolve();
  const listeners: { [K in keyof SessionEvents]: Set<(event: SessionEvents[K]) => void> } = {
    refreshed: new Set(),
    refreshFailed: new Set(),
    loggedOut: new Set(),
    warning: new Set(),
  };

  /** Fill in `expiresAt` from the JWT `exp` claim when the caller did not give one. */
  const withExpiry = (tokens: TokenSet): TokenSet =>
    tokens.expiresAt !== undefined ? tokens : { ...tokens, expiresAt: jwtExpiresAt(tokens.accessToken) };

  const leewayMs = options.leewayMs ?? 30_000;
  /** Hold `tokens` as the session's own; returns the facts the machine keeps (never a token). */
  const hold = (tokens: StoredTokens) => {
    held = { tokens, tokenVersion: ++versions };
    const expiresAt = tokens.expiresAt ?? null;
    const refreshAt = options.proactive === false ? null : refreshTime(expiresAt, now(), leewayMs);
    return { tokenVersion: held.tokenVersion, expiresAt, refreshAt };
  };
  const currentCredential = (): Credential | null =>
    held ? { accessToken: held.tokens.accessToken, tokenVersion: held.tokenVersion } : null;
  const serialStore = <T>(op: () => T | Promise<T>): Promise<T> => {
    const next = storeOps.then(op, op);
    storeOps = next.catch(() => undefined);
    return next;
  };
  const writeStore = async (tokens: TokenSet, expectedVersion?: number) => {
    selfWrites++;
    try {
      return await store.set(tokens, expectedVersion === undefined ? undefined : { expectedVersion });
    } finally {
      selfWrites--;
    }
  };

  const machine = refreshMachine.provide({
    delays: { proactive: ({ context }) => proactiveDelay(context.refreshAt, now()) },
    guards: { refreshDue: ({ context }) => context.refreshAt !== null && now() >= context.refreshAt },
    actors: {
      refresh: fromPromise(({ input, signal }) => {
        refreshStartedAt = now();
        log?.({ type: 'refresh.start', attempt: input.attempt, reason: input.reason });
        return runRefresh(
          {
            store: {
              get: () => store.get(),
              set: (tokens, setOptions) => writeStore(tokens, setOptions?.expectedVersion),
              clear: () => store.clear(),
            },
            refresher: options.refresh,
            lock: options.lock,
            dpop: options.dpop,
            refreshTimeoutMs: options.refreshTimeoutMs ?? 10_000,
            lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
            now,
            held: () => held?.tokens ?? null,
            adopt: hold,
            onError: (error) => {
              lastRefreshError = error;
            },
            onWarning: (error) => {
              log?.({ type: 'refresh.warning', code: error.code });
              for (const listener of listeners.warning) listener({ error });
            },
            keep: (record) => {
              if (held) held = { tokens: record, tokenVersion: held.tokenVersion };
            },
          },
          signal,
        );
      }),
    },
  });

  const machineInput: Partial<RefreshMachineOptions> = {};
  for (const key of Object.keys(defaultRefreshOptions) as (keyof RefreshMachineOptions)[]) {
    if (options[key] !== undefined) machineInput[key] = options[key];
  }

  const waiters = new Waiters(
    () => maxWaitMs,
    (ms) => new QueueTimeoutError(ms),
    (requestId) => actor.send({ type: 'REQUEST_LEFT', requestId }),
  );

  const actor = createActor(machine, { input: machineInput, inspect: options.inspect });

  const onEmitted = (event: RefreshEmitted) => {
    switch (event.type) {
      case 'request.replay': {
        const credential = currentCredential();
        waiters.settle(event.requestId, credential ? { credential } : { error: new SessionExpiredError() });
        break;
      }
      case 'request.reject':
        waiters.settle(event.requestId, { error: new SessionExpiredError() });
        break;
      case 'queue.release': {
        const credential = currentCredential();
        const count = waiters.settleAll(credential ? { credential } : { error: new SessionExpiredError() });
        log?.({ type: 'queue.released', count });
        break;
      }
      case 'queue.reject': {
        const cause = lastRefreshError ?? undefined;
        const error = event.code === 'SESSION_EXPIRED' ? new SessionExpiredError(undefined, { cause }) : new RefreshUnavailableError({ cause });
        const count = waiters.settleAll({ error });
        log?.({ type: 'queue.rejected', code: event.code, count });
        break;
      }
      case 'refreshed': {
        const durationMs = now() - refreshStartedAt;
        lastRefresh = { at: now(), outcome: 'ok', source: event.source, durationMs };
        lastRefreshError = null;
        log?.({ type: 'refresh.done', source: event.source, durationMs });
        const expiresAt = held?.tokens.expiresAt ?? null;
        for (const listener of listeners.refreshed) listener({ tokenVersion: event.tokenVersion, source: event.source, reason: event.reason, expiresAt });
        break;
      }
      case 'refreshFailed': {
        lastRefresh = { at: now(), outcome: event.failure.kind, durationMs: now() - refreshStartedAt };
        const { failure, attempt, willRetry } = event;
        log?.({ type: 'refresh.failed', kind: failure.kind, reason: failure.code, status: failure.status, willRetry });
        for (const listener of listeners.refreshFailed) listener({ error: lastRefreshError, failure, attempt, willRetry });
        break;
      }
      case 'loggedOut': {
        held = null;
        if (event.reason !== 'noSession' && event.reason !== 'remote') {
          void serialStore(() => store.clear());
          // The key the ended session's tokens were bound to is of no further use.
          if (options.dpop) void serialStore(() => options.dpop!.clear()).catch(() => undefined);
        }
        log?.({ type: 'loggedOut', reason: event.reason });
        for (const listener of listeners.loggedOut) listener({ reason: event.reason });
        break;
      }
    }
  };
  actor.on('*', onEmitted as (event: { type: string }) => void);

  if (log) {
    let previous = 'idle';
    actor.subscribe((snapshot) => {
      const state = selectState(snapshot);
      if (state !== previous) log({ type: 'state', from: previous, to: state, queued: snapshot.context.queued });
      previous = state;
    });
  }

  actor.start();

  // Another tab or instance changed the store: follow it (rule 9: through the one actor).
  const syncFromStore = async () => {
    if (disposed || selfWrites > 0) return;
    const record = await store.get();
    if (disposed) return;
    const snapshot = actor.getSnapshot();
    if (!record) {
      if (held && !snapshot.hasTag('loggedOut')) actor.send({ type: 'LOGOUT', reason: 'remote' });
      return;
    }
    if (held && held.tokens.accessToken === record.accessToken && held.tokens.refreshToken === record.refreshToken) return;
    const facts = hold(record);
    actor.send(snapshot.hasTag('loggedOut') ? { type: 'LOGIN', ...facts } : { type: 'TOKENS_UPDATED', ...facts });
  };
  const unsubscribeStore = store.subscribe?.(() => void syncFromStore().catch(() => undefined));
  const unsubscribeWake = options.wakeEvents === false ? undefined : listenForWake(() => {
    if (!disposed) actor.send({ type: 'WAKE' });
  });

  // Start from the given tokens, or from what the store holds.
  const begin = (record: StoredTokens | null) => {
    if (disposed) return;
    if (record) {
      actor.send({ type: 'TOKENS_UPDATED', ...hold(record) });
    } else {
      actor.send({ type: 'LOGOUT', reason: 'noSession' });
    }
  };
  const initial = options.tokens ? writeStore(withExpiry(options.tokens)) : store.get();
  let ready: Promise<void> | null = null;
  if (initial instanceof Promise) {
    // A store that cannot be read now (Redis down) is not "no session": stay idle without
    // tokens, so the first request starts a refresh whose double-check reads the store again
    // (and backs off while it is still unreachable) instead of logging out for good.
    ready = initial.then(begin, () => undefined).finally(() => {
      ready = null;
    });
  } else {
    begin(initial);
  }

  const isExpired = () => held?.tokens.expiresAt !== undefined && held.tokens.expiresAt <= now();

  const credential = (signal?: AbortSignal): Credential | Promise<Credential> => {
    if (disposed) return Promise.reject(new DisposedError());
    if (ready) return ready.then(() => credential(signal));
    const snapshot = actor.getSnapshot();
    if (snapshot.hasTag('loggedOut')) return Promise.reject(new SessionExpiredError());
    const current = currentCredential();
    if (current && !snapshot.hasTag('waiting') && !isExpired()) return current;
    return waiters.wait(signal, (requestId) => actor.send({ type: 'REFRESH', requestId }));
  };

  const frontEnd: FrontEndPort = {
    credential,
    unauthorized(tokenVersion, signal) {
      if (disposed) return Promise.reject(new DisposedError());
      return waiters.wait(signal, (requestId) => actor.send({ type: 'UNAUTHORIZED', tokenVersion, requestId }));
    },
    reportUnauthorized(tokenVersion) {
      if (!disposed) actor.send({ type: 'UNAUTHORIZED', tokenVersion });
    },
  };

  const session: Session = {
    actor,
    async getAccessToken(callOptions) {
      return (await credential(callOptions?.signal)).accessToken;
    },
    async login(tokens) {
      if (disposed) throw new DisposedError();
      if (ready) await ready;
      const record = await serialStore(() => writeStore(withExpiry(tokens)));
      if (!record) throw new SessionExpiredError('The token store refused the new tokens.');
      actor.send({ type: 'LOGIN', ...hold(record) });
    },
    async updateTokens(tokens) {
      if (disposed) throw new DisposedError();
      if (ready) await ready;
      if (actor.getSnapshot().hasTag('loggedOut')) return;
      const merged = withExpiry({ ...tokens, refreshToken: tokens.refreshToken ?? held?.tokens.refreshToken });
      const record = await serialStore(() => writeStore(merged));
      if (!record || actor.getSnapshot().hasTag('loggedOut')) return;
      actor.send({ type: 'TOKENS_UPDATED', ...hold(record) });
    },
    async logout() {
      if (disposed) return;
      if (ready) await ready;
      actor.send({ type: 'LOGOUT', reason: 'logout' });
      await storeOps;
    },
    async refresh(callOptions) {
      if (disposed) throw new DisposedError();
      if (ready) await ready;
      await waiters.wait(callOptions?.signal, (requestId) => actor.send({ type: 'REFRESH', requestId }));
    },
    on(type, listener) {
      const set = listeners[type] as Set<typeof listener>;
      set.add(listener);
      return () => set.delete(listener);
    },
    getStatus() {
      const snapshot = actor.getSnapshot();
      const { context } = snapshot;
      return {
        state: selectState(snapshot),
        status: selectSessionStatus(snapshot),
        tokenVersion: context.tokenVersion,
        expiresAt: context.expiresAt,
        hasRefreshToken: Boolean(held?.tokens.refreshToken),
        attempt: context.attempt,
        permanentFailures: context.permanentFailures,
        queued: waiters.size,
        lastRefresh,
        lastError: context.lastError ? { kind: context.lastError.kind, code: context.lastError.code, status: context.lastError.status } : null,
        loggedOutReason: context.loggedOutReason,
      };
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      unsubscribeStore?.();
      unsubscribeWake?.();
      actor.stop();
      waiters.settleAll({ error: new DisposedError() });
      await storeOps;
    },
  };
  return attachFrontEnd(session, frontEnd);
}

/**
 * Call `onWake` when a browser tab may have slept: window `focus` and `online`, and the
 * document becoming visible. Nothing outside a browser.
 */
function listenForWake(onWake: () => void): (() => void) | undefined {
  const win = globalThis as unknown as Partial<Window>;
  const doc = win.document;
  if (typeof win.addEventListener !== 'function' || typeof win.removeEventListener !== 'function') return undefined;
  const onVisibility = () => {
    if (doc?.visibilityState === 'visible') onWake();
  };
  win.addEventListener('focus', onWake);
  win.addEventListener('online', onWake);
  doc?.addEventListener('visibilitychange', onVisibility);
  return () => {
    win.removeEventListener!('focus', onWake);
    win.removeEventListener!('online', onWake);
    doc?.removeEventListener('visibilitychange', onVisibility);
  };
}
