/**
 * `createSession`: one statechart, one token holder, one queue — composed here, each part in
 * its own file (options.ts, token-holder.ts, session-machine.ts, session-events.ts,
 * store-sync.ts, waiters.ts, front-end.ts).
 */
import { selectSessionStatus, selectState } from '../../machines/refresh.machine.js';
import { AuthchartError, DisposedError, InvalidOptionsError, isAuthchartError, QueueTimeoutError, SessionExpiredError, toRefreshError } from './errors.js';
import { isOlderToken } from './expiry.js';
import { attachFrontEnd, type FrontEndPort } from './front-end.js';
import { normalizeOptions } from './options.js';
import { SessionEmitter, safeInspector } from './observers.js';
import type { StoredTokens, TokenSet } from './ports.js';
import { runRefresh } from './refresh-task.js';
import { routeEmitted, type RefreshRecord } from './session-events.js';
import { createSessionActor } from './session-machine.js';
import type { Session, SessionOptions } from './session-types.js';
import { adoptRecord, followStore, loadInitial } from './store-sync.js';
import { TokenHolder } from './token-holder.js';
import { Waiters, type Credential } from './waiters.js';
import { memoryStore } from '../stores/memory.js';
import { browserWake } from '../wake/browser.js';

export type { Credential } from './waiters.js';
export type { Session, SessionOptions, SessionEvents, SessionStatusReport, LogEntry } from './session-types.js';

/** The part of a session that front ends put on what they return. */
export type SessionApi = Pick<Session, 'login' | 'logout' | 'refresh' | 'updateTokens' | 'getAccessToken' | 'on' | 'getStatus' | 'dispose'> & {
  readonly session: Session;
};

/** The session's API as front ends expose it (its methods need no `this`). */
export function sessionApi(session: Session): SessionApi {
  const { login, logout, refresh, updateTokens, getAccessToken, on, getStatus, dispose } = session;
  return { session, login, logout, refresh, updateTokens, getAccessToken, on, getStatus, dispose };
}

/** How many times a pushed token set is merged with the store again after a compare-and-set lost. */
const PUSH_ATTEMPTS = 3;

/**
 * Create a session: one statechart, one token store, one queue.
 * @example
 * const session = createSession({ refresh: oauthRefresher({ tokenEndpoint, clientId }), tokens })
 * const token = await session.getAccessToken()
 */
export function createSession(options: SessionOptions): Session {
  const o = normalizeOptions(options as unknown as Record<string, unknown>);
  const store = o.store ?? memoryStore();
  const events = new SessionEmitter(options.logger);
  let disposed = false;
  const isDisposed = () => disposed;
  const refreshes: RefreshRecord = { startedAt: 0, last: null, lastError: null };

  const holder: TokenHolder = new TokenHolder(
    { store, storeTimeoutMs: o.storeTimeoutMs, now: o.now, leewayMs: o.leewayMs, minRefreshIntervalMs: o.minRefreshIntervalMs, proactive: o.proactive },
    (record) => {
      if (!disposed) adoptRecord({ holder, actor }, record);
    },
  );
  const waiters = new Waiters(
    () => o.maxWaitMs,
    (ms) => new QueueTimeoutError(ms),
    (requestId) => actor.send({ type: 'REQUEST_LEFT', requestId }),
  );
  const warn = (error: AuthchartError) => {
    events.log({ type: 'refresh.warning', code: error.code, reason: (error as { reason?: string }).reason ?? error.code });
    events.emit('warning', { error });
  };
  const actor = createSessionActor({
    options: o,
    now: o.now,
    inspect: safeInspector(options.inspect),
    refresh: (input, signal) => {
      refreshes.startedAt = o.now();
      events.log({ type: 'refresh.start', attempt: input.attempt, trigger: input.trigger });
      return runRefresh(
        {
          holder,
          refresher: o.refresh,
          refreshTokenIn: o.refreshTokenIn,
          lock: o.lock,
          dpop: o.dpop,
          refreshTimeoutMs: o.refreshTimeoutMs,
          lockTimeoutMs: o.lockTimeoutMs,
          now: o.now,
          onError: (error) => {
            refreshes.lastError = error;
          },
          onWarning: warn,
        },
        signal,
      );
    },
  });
  routeEmitted({ actor, holder, waiters, events, refreshes, now: o.now, dpop: o.dpop });
  actor.start();

  const sync = { holder, store, actor, disposed: isDisposed };
  const stopFollowing = followStore(sync);
  const wakeSource = options.wake ?? (options.wakeEvents === false ? false : browserWake);
  const stopWaking = wakeSource === false ? undefined : wakeSource(() => !disposed && actor.send({ type: 'WAKE' }));
  let ready = loadInitial(sync, o.tokens)?.finally(() => {
    ready = undefined;
  });

  /** Wait for the initial load, within `maxWaitMs` and the caller's signal. */
  const whenReady = (signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => done(new QueueTimeoutError(o.maxWaitMs)), o.maxWaitMs);
      const onAbort = () => done(signal!.reason);
      const done = (error?: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      (ready ?? Promise.resolve()).then(() => done(), () => done());
    });

  /** login() and logout() calls so far: the last one called decides the session's state. */
  let signInCalls = 0;
  let usedVersion = 0;
  const credential = (signal?: AbortSignal): Credential | Promise<Credential> => {
    if (disposed) return Promise.reject(new DisposedError());
    if (ready) return whenReady(signal).then(() => credential(signal));
    const snapshot = actor.getSnapshot();
    if (snapshot.hasTag('loggedOut')) return Promise.reject(new SessionExpiredError());
    const current = holder.credential();
    if (current && !snapshot.hasTag('waiting') && !holder.isExpired()) {
      if (usedVersion !== current.tokenVersion) {
        usedVersion = current.tokenVersion;
        actor.send({ type: 'TOKEN_USED' });
      }
      return current;
    }
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

  /** Store tokens the app handed over; if the store fails, hold them in memory and write them later. */
  const storeGiven = async (tokens: TokenSet, expectedVersion: number | undefined): Promise<{ record: StoredTokens | null; facts?: ReturnType<TokenHolder['hold']> | null }> => {
    try {
      return { record: await holder.write(tokens, expectedVersion) };
    } catch (error) {
      if (!isAuthchartError(error)) throw error;
      warn(toRefreshError(error));
      return { record: null, facts: holder.holdUnsaved(tokens, expectedVersion) };
    }
  };

  const session: Session = {
    actor,
    async getAccessToken(callOptions) {
      return (await credential(callOptions?.signal)).accessToken;
    },
    async login(tokens) {
      if (disposed) throw new DisposedError();
      if (typeof tokens?.accessToken !== 'string' || tokens.accessToken === '') throw new InvalidOptionsError('login() needs a token set with a non-empty accessToken.');
      const mine = ++signInCalls;
      const given = holder.withExpiry(tokens);
      // Queued at once, so that the store sees sign-ins and sign-outs in the order the app
      // called them, even while the initial load is under way.
      await holder.serial(async () => {
        if (ready) await whenReady();
        // A later login() or logout() decides the session's state (its write or clear comes
        // after ours): nothing to write, or nothing to hold once written. (Disposed meanwhile:
        // the sign-in is still stored, for the other tabs and the next page.)
        if (mine !== signInCalls) return;
        const { record, facts } = await storeGiven(given, undefined);
        if (disposed || mine !== signInCalls) {
          // A write that failed was kept to be tried again: not after a logout.
          if (facts !== undefined && actor.getSnapshot().hasTag('loggedOut')) holder.drop();
          return;
        }
        const held = record ? holder.hold(record) : (facts ?? null);
        if (held) actor.send({ type: 'LOGIN', ...held });
      });
    },
    async updateTokens(tokens) {
      if (disposed) throw new DisposedError();
      if (typeof tokens?.accessToken !== 'string' || tokens.accessToken === '') throw new InvalidOptionsError('updateTokens() needs a token set with a non-empty accessToken.');
      if (ready) await whenReady();
      await holder.serial(async () => {
        for (let attempt = 0; attempt < PUSH_ATTEMPTS; attempt++) {
          if (disposed || actor.getSnapshot().hasTag('loggedOut')) return;
          // Tokens this session holds but could not store (a sign-in, a rotation) are newer
          // than the store: write them first, and merge with them while the store still fails.
          const inStep = await holder.flush();
          const current = inStep ? await Promise.resolve(holder.read()).catch(() => holder.tokens) : holder.tokens;
          // An empty store: the session was signed out (in another tab, or a logout() that
          // landed first). A push updates a session; it never signs one in again.
          if (!current) return;
          // Rule 15: an older pushed token (a response that lands late) never replaces a newer one.
          if (current && isOlderToken(tokens.accessToken, current.accessToken)) return;
          const merged = holder.withExpiry({ ...tokens, refreshToken: tokens.refreshToken ?? current.refreshToken });
          const { record, facts } = await storeGiven(merged, inStep ? current.version : holder.unsavedBaseVersion);
          if (disposed || actor.getSnapshot().hasTag('loggedOut')) return;
          if (record || facts !== undefined) {
            const held = record ? holder.hold(record) : facts;
            if (held) actor.send({ type: 'TOKENS_UPDATED', ...held });
            return;
          }
          // Someone wrote in between (a refresh that rotated): merge with theirs and try again.
        }
      });
    },
    async logout() {
      if (disposed) return;
      const mine = ++signInCalls;
      const signOut = () => {
        if (!disposed && mine === signInCalls) actor.send({ type: 'LOGOUT', reason: 'logout' });
      };
      // At once when the session is loaded (what waits is rejected now); otherwise once the
      // initial load is done, so that the record it read does not sign the session in again.
      const atOnce = !ready;
      if (atOnce) signOut();
      await holder.serial(async () => {
        if (!atOnce) {
          if (ready) await whenReady().catch(() => undefined);
          signOut();
        }
        await holder.clear();
      });
    },
    async refresh(callOptions) {
      if (disposed) throw new DisposedError();
      if (ready) await whenReady(callOptions?.signal);
      await waiters.wait(callOptions?.signal, (requestId) => actor.send({ type: 'REFRESH', requestId }));
    },
    on: (type, listener) => events.on(type, listener),
    getStatus() {
      const snapshot = actor.getSnapshot();
      const { context } = snapshot;
      const error = context.lastError;
      return {
        state: selectState(snapshot),
        status: selectSessionStatus(snapshot),
        tokenVersion: context.tokenVersion,
        expiresAt: context.expiresAt,
        hasRefreshToken: o.refreshTokenIn === 'cookie' ? holder.tokens !== null : Boolean(holder.tokens?.refreshToken),
        attempt: context.attempt,
        permanentFailures: context.permanentFailures,
        queued: waiters.size,
        lastRefresh: refreshes.last,
        lastError: error ? { kind: error.kind, code: error.code, reason: error.reason, status: error.status } : null,
        loggedOutReason: context.loggedOutReason,
        unsavedTokens: holder.hasUnsavedWrite,
      };
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      stopFollowing?.();
      stopWaking?.();
      actor.stop();
      holder.stop();
      waiters.settleAll({ error: new DisposedError() });
      // Tokens the store refused (or did not take in time) may be the only copy of a
      // rotation: try once more to store them, or the next refresh anywhere is a reuse.
      await holder.serial(() => (holder.hasUnsavedWrite ? holder.flush() : undefined)).catch(() => undefined);
      await holder.settled();
    },
  };
  return attachFrontEnd(session, frontEnd);
}
