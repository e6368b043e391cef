/**
 * `createSession`: one statechart, one token holder, one queue — composed here, each part in
 * its own file (options.ts, token-holder.ts, session-machine.ts, session-events.ts,
 * store-sync.ts, waiters.ts, front-end.ts).
 */
import { type AuthchartError, DisposedError, InvalidOptionsError, isAuthchartError, QueueTimeoutError, SessionExpiredError, toRefreshError } from './errors.js';
import { isOlderToken } from './expiry.js';
import { dpopRequests } from './dpop-requests.js';
import { attachFrontEnd, type FrontEndPort } from './front-end.js';
import { normalizeOptions } from './options.js';
import { normalizeTokenType } from './record.js';
import { SessionEmitter, safeInspector } from './observers.js';
import type { StoredTokens, TokenSet } from './ports.js';
import { runRefresh } from './refresh-task.js';
import { routeEmitted, type RefreshRecord } from './session-events.js';
import { SessionMachine } from './session-machine.js';
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

/** A token type the app handed over must be one authchart can send. */
function checkTokenType(method: string, tokens: TokenSet): void {
  if (tokens.tokenType !== undefined && !normalizeTokenType(tokens.tokenType)) {
    throw new InvalidOptionsError(`${method}() was given tokenType "${String(tokens.tokenType).slice(0, 16)}": authchart sends DPoP and Bearer tokens only.`);
  }
}

/** Each session's statechart, for the `actor` getter the sessions share. */
const machines = new WeakMap<object, SessionMachine>();

/** `session.actor`: the statechart's actor, made on this first look if the session has not needed it yet. */
const ACTOR: PropertyDescriptor = {
  get(this: object) {
    return machines.get(this)?.actor;
  },
  enumerable: true,
  configurable: true,
};

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
      if (!disposed) adoptRecord({ holder, machine }, record);
    },
  );
  const waiters = new Waiters(
    () => o.maxWaitMs,
    (ms) => new QueueTimeoutError(ms),
    (requestId) => machine.send({ type: 'REQUEST_LEFT', requestId }),
  );
  const warn = (error: AuthchartError) => {
    events.log({ type: 'refresh.warning', code: error.code, reason: (error as { reason?: string }).reason ?? error.code });
    events.emit('warning', { error });
  };
  const machine: SessionMachine = new SessionMachine(
    {
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
            minRefreshIntervalMs: o.minRefreshIntervalMs,
            now: o.now,
            onError: (error) => {
              refreshes.lastError = error;
            },
            onWarning: warn,
          },
          signal,
        );
      },
    },
    (actor, machine) => routeEmitted({ actor, machine, holder, waiters, events, refreshes, now: o.now, dpop: o.dpop }),
  );

  const sync = { holder, store, machine, disposed: isDisposed };
  const stopFollowing = followStore(sync);
  const wakeSource = options.wake ?? (options.wakeEvents === false ? false : browserWake);
  const stopWaking = wakeSource === false ? undefined : wakeSource(() => !disposed && machine.send({ type: 'WAKE' }));
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
      (ready ?? Promise.resolve()).then(
        () => done(),
        () => done(),
      );
    });

  /** login() and logout() calls so far: the last one called decides the session's state. */
  let signInCalls = 0;
  let usedVersion = 0;
  const credential = (signal?: AbortSignal): Credential | Promise<Credential> => {
    if (disposed) return Promise.reject(new DisposedError());
    if (ready) return whenReady(signal).then(() => credential(signal));
    if (machine.hasTag('loggedOut')) return Promise.reject(new SessionExpiredError());
    const current = holder.credential();
    if (current && !machine.hasTag('waiting') && !holder.isExpired()) {
      if (usedVersion !== current.tokenVersion) {
        usedVersion = current.tokenVersion;
        machine.send({ type: 'TOKEN_USED' });
      }
      return current;
    }
    return waiters.wait(signal, (requestId) => machine.send({ type: 'REFRESH', requestId }));
  };

  const frontEnd: FrontEndPort = {
    credential,
    dpop: o.dpop && dpopRequests(o.dpop),
    unauthorized(tokenVersion, signal) {
      if (disposed) return Promise.reject(new DisposedError());
      return waiters.wait(signal, (requestId) => machine.send({ type: 'UNAUTHORIZED', tokenVersion, requestId }));
    },
    queueUnauthorized(tokenVersion, waiter, signal) {
      if (disposed) waiter.settled({ error: new DisposedError() });
      else waiters.add(waiter, signal, (requestId) => machine.send({ type: 'UNAUTHORIZED', tokenVersion, requestId }));
    },
    reportUnauthorized(tokenVersion) {
      if (!disposed) machine.send({ type: 'UNAUTHORIZED', tokenVersion });
    },
  };

  /**
   * Store tokens the app handed over; if the store fails, hold them in memory and write them
   * later. If they were `overtaken` meanwhile, nothing is held and the answer says `stale`.
   */
  const storeGiven = async (
    tokens: TokenSet,
    expectedVersion: number | undefined,
    overtaken: () => boolean = () => false,
  ): Promise<{ record: StoredTokens | null; facts?: ReturnType<TokenHolder['hold']> | null; stale?: boolean }> => {
    try {
      const record = await holder.write(tokens, expectedVersion);
      return overtaken() ? { record: null, stale: true } : { record };
    } catch (error) {
      if (!isAuthchartError(error)) throw error;
      warn(toRefreshError(error));
      if (overtaken()) return { record: null, stale: true };
      return { record: null, facts: holder.holdUnsaved(tokens, expectedVersion) };
    }
  };

  const session: Omit<Session, 'actor'> = {
    async getAccessToken(callOptions) {
      return (await credential(callOptions?.signal)).accessToken;
    },
    async login(tokens) {
      if (disposed) throw new DisposedError();
      if (typeof tokens?.accessToken !== 'string' || tokens.accessToken === '')
        throw new InvalidOptionsError('login() needs a token set with a non-empty accessToken.');
      checkTokenType('login', tokens);
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
          if (facts !== undefined && machine.hasTag('loggedOut')) holder.drop();
          return;
        }
        const held = record ? holder.hold(record) : (facts ?? null);
        if (held) machine.send({ type: 'LOGIN', ...held });
      });
    },
    async updateTokens(tokens) {
      if (disposed) throw new DisposedError();
      if (typeof tokens?.accessToken !== 'string' || tokens.accessToken === '')
        throw new InvalidOptionsError('updateTokens() needs a token set with a non-empty accessToken.');
      checkTokenType('updateTokens', tokens);
      if (ready) await whenReady();
      // The refresh token held when the push was handed over: if the store moves off it before
      // the push is written (a rotation, a sign-in), a push still carrying it is the older.
      const handedOverWith = holder.tokens?.refreshToken;
      await holder.serial(async () => {
        for (let attempt = 0; attempt < PUSH_ATTEMPTS; attempt++) {
          if (disposed || machine.hasTag('loggedOut')) return;
          // What the push is merged with: the store's record, unless the session holds newer
          // tokens than the store (a write it still owes, or a stale record there); it is
          // written on top of the store's record either way.
          // Tokens this session holds but could not store (a sign-in, a rotation) are newer
          // than the store: write them first, and merge with them while the store still fails.
          const inStep = await holder.flush();
          const stored = inStep ? await Promise.resolve(holder.read()).catch(() => undefined) : undefined;
          // An empty store: the session was signed out (in another tab, or a logout() that
          // landed first). A push updates a session; it never signs one in again.
          if (stored === null) return;
          // A record carrying a refresh token this session rotated away is older than what it holds.
          const current = stored === undefined || (holder.isRotatedAway(stored.refreshToken) && holder.tokens) ? holder.tokens : stored;
          if (!current) return;
          // R15: an older pushed token (a response that lands late) never replaces a newer
          // one; nor does a set carrying a refresh token rotated away since it was handed over.
          if (isOlderToken(tokens.accessToken, current.accessToken)) return;
          if (holder.isRotatedAway(tokens.refreshToken)) return;
          if (
            tokens.refreshToken !== undefined &&
            tokens.refreshToken === handedOverWith &&
            current.refreshToken !== undefined &&
            current.refreshToken !== handedOverWith
          )
            return;
          // A pushed token without a type is of the kind the session holds (the same server made it).
          const merged = holder.withExpiry({
            ...tokens,
            refreshToken: tokens.refreshToken ?? current.refreshToken,
            tokenType: tokens.tokenType ?? current.tokenType,
          });
          // Merged with a refresh token a token call of this session has rotated away (its
          // answer is being stored): the push is older than that answer. Checked again once
          // the write settles, for an answer that arrives meanwhile.
          const overtaken = () => holder.isRotatedAway(merged.refreshToken);
          if (overtaken()) return;
          const { record, facts, stale } = await storeGiven(merged, stored ? stored.version : holder.unsavedBaseVersion, overtaken);
          if (stale || disposed || machine.hasTag('loggedOut')) return;
          if (record || facts !== undefined) {
            const held = record ? holder.hold(record) : facts;
            if (held) machine.send({ type: 'TOKENS_UPDATED', ...held });
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
        if (!disposed && mine === signInCalls) machine.send({ type: 'LOGOUT', reason: 'logout' });
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
      await waiters.wait(callOptions?.signal, (requestId) => machine.send({ type: 'REFRESH', requestId }));
    },
    on: (type, listener) => events.on(type, listener),
    getStatus() {
      const report = machine.report();
      const error = report.lastError;
      return {
        state: report.state,
        status: report.status,
        tokenVersion: report.tokenVersion,
        expiresAt: report.expiresAt,
        hasRefreshToken: o.refreshTokenIn === 'cookie' ? holder.tokens !== null : Boolean(holder.tokens?.refreshToken),
        attempt: report.attempt,
        permanentFailures: report.permanentFailures,
        queued: waiters.size,
        lastRefresh: refreshes.last,
        lastError: error ? { kind: error.kind, code: error.code, reason: error.reason, status: error.status } : null,
        loggedOutReason: report.loggedOutReason,
        unsavedTokens: holder.hasUnsavedWrite,
      };
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      stopFollowing?.();
      stopWaking?.();
      machine.stop();
      holder.stop();
      waiters.settleAll({ error: new DisposedError() });
      // Tokens the store refused (or did not take in time) may be the only copy of a
      // rotation: try once more to store them, or the next refresh anywhere is a reuse.
      await holder.serial(() => (holder.hasUnsavedWrite ? holder.flush() : undefined)).catch(() => undefined);
      await holder.settled();
    },
  };
  // One getter for every session (a getter per session would give each its own hidden class).
  machines.set(session, machine);
  Object.defineProperty(session, 'actor', ACTOR);
  return attachFrontEnd(session as Session, frontEnd);
}
