import { createSession, type Session, type SessionOptions } from '../core/session.js';
import { DisposedError, InvalidOptionsError, SessionExpiredError } from '../core/errors.js';
import type { DPoPKeyStore, RefreshLock, Refresher, StoredTokens, TokenSet, TokenStore } from '../core/ports.js';
import { positiveOption, sessionDefaults } from '../core/options.js';
import { boundedStoreCall } from '../core/token-holder.js';

/** Session options a manager passes to every session it creates (`dpop` is per session: {@link SessionManagerOptions.dpop}). */
export type ManagedSessionOptions = Omit<SessionOptions, 'refresh' | 'store' | 'lock' | 'tokens' | 'dpop'>;

/**
 * Options of {@link createSessionManager}.
 * @example
 * createSessionManager({ refresh, store: (id) => memoryStore(), idleTimeoutMs: 300_000, session: { maxWaitMs: 10_000 } })
 */
export interface SessionManagerOptions {
  /** How to refresh (one refresher for every session, e.g. `oauthRefresher(...)`). */
  refresh: Refresher;
  /** The token store of a session, e.g. `(id) => redisStore({ client, sessionId: id })`. */
  store: (sessionId: string) => TokenStore;
  /** The refresh lock of a session, e.g. `(id) => redisLock({ client, sessionId: id })`. */
  lock?: (sessionId: string) => RefreshLock;
  /**
   * DPoP (RFC 9449): the key pair of a session, one per session and shared by every instance,
   * e.g. `(id) => redisDPoPKeys({ client, sessionId: id, secret })`. At sign-in, take the new
   * key with `await dpop(id).rotate()`, exchange the authorization code with it, then call
   * `login(id, tokens)`; `logout(id)` forgets the key. See docs/dpop.md.
   */
  dpop?: (sessionId: string) => DPoPKeyStore;
  /**
   * A session not used for this long is dropped from memory (its tokens stay in the store;
   * the next request loads it again).
   * @default 60000
   */
  idleTimeoutMs?: number;
  /**
   * Most sessions kept in memory; past it the least recently used idle ones are dropped.
   * Sessions in use right now — a request in flight, or a refresh under way (dropping it
   * could lose a refresh token the server has just rotated) — are never dropped, so the
   * count can pass the bound briefly, by the number of such sessions.
   * @default 10000
   */
  maxSessions?: number;
  /** Options of every session: `debounceMs`, `maxWaitMs`, `lockTimeoutMs`, `leewayMs`, `logger`, … */
  session?: ManagedSessionOptions;
}

export interface SessionManager {
  /**
   * A valid access token of this session, refreshed first if needed (one refresh per expiry
   * across every request, and across instances with a shared lock and store).
   * Rejects with a typed error: `SESSION_EXPIRED` (no tokens stored, or the session ended),
   * `REDIS_UNAVAILABLE`, `STORE_UNAVAILABLE` (the store did not answer within the session's
   * `storeTimeoutMs`), `REFRESH_UNAVAILABLE`, `QUEUE_TIMEOUT`, `DISPOSED`.
   */
  getValidAccessToken(sessionId: string, options?: { signal?: AbortSignal }): Promise<string>;
  /** Run `fn` with the session (loaded if needed); the session is not dropped while `fn` runs. */
  withSession<T>(sessionId: string, fn: (session: Session) => T | Promise<T>): Promise<T>;
  /** Store a new sign-in's tokens for this session (every instance learns of them). Rejects with `STORE_UNAVAILABLE` past `storeTimeoutMs`. */
  login(sessionId: string, tokens: TokenSet): Promise<void>;
  /** End this session: clear its tokens in the store and drop it from memory. Rejects with `STORE_UNAVAILABLE` past `storeTimeoutMs`. */
  logout(sessionId: string): Promise<void>;
  /** Sessions held in memory now. */
  readonly size: number;
  /** Dispose every session held; later calls reject with `DISPOSED`. */
  dispose(): Promise<void>;
}

interface Entry {
  id: string;
  session: Session;
  pins: number;
  lastUsed: number;
  gone: boolean;
  /**
   * Loaded for a request that has not pinned it yet: never dropped before that request uses
   * it (at the bound with every other slot busy, the load itself would otherwise evict it
   * and the request would fail with `DISPOSED`).
   */
  fresh: boolean;
}

/** A store whose first read is one already made (the manager read it to see whether the session exists). */
function primed(store: TokenStore, record: StoredTokens): TokenStore {
  let first: StoredTokens | null = record;
  const wrapped: TokenStore = {
    get: () => {
      const value = first;
      first = null;
      return value ?? store.get();
    },
    set: (tokens, options) => store.set(tokens, options),
    clear: () => store.clear(),
  };
  if (store.subscribe) wrapped.subscribe = (listener) => store.subscribe!(listener);
  return wrapped;
}

/**
 * Server-side sessions: one authchart session (the same statechart) per user session,
 * created on first use and dropped when idle, so memory follows the active users, not all
 * of them. With the Redis store and lock (`redisSessionManager` from `authchart/redis`),
 * every instance shares one refresh per expiry.
 * @example
 * const sessions = createSessionManager({
 *   refresh: oauthRefresher({ tokenEndpoint, clientId, clientSecret }),
 *   store: (id) => redisStore({ client, subscriber, sessionId: id }),
 *   lock: (id) => redisLock({ client, subscriber, sessionId: id }),
 * })
 * const token = await sessions.getValidAccessToken(req.session.id)
 */
export function createSessionManager(options: SessionManagerOptions): SessionManager {
  if (typeof options.refresh !== 'function') throw new InvalidOptionsError('createSessionManager needs a refresh function.');
  if (typeof options.store !== 'function') throw new InvalidOptionsError('createSessionManager needs a store factory: (sessionId) => TokenStore.');
  if (options.dpop !== undefined && typeof options.dpop !== 'function')
    throw new InvalidOptionsError('createSessionManager: dpop is a key store factory: (sessionId) => DPoPKeyStore.');
  if ((options.session as { dpop?: unknown } | undefined)?.dpop !== undefined)
    throw new InvalidOptionsError('createSessionManager: a DPoP key is per session: give dpop: (sessionId) => DPoPKeyStore, not session.dpop.');
  const idleTimeoutMs = positiveOption('idleTimeoutMs', options.idleTimeoutMs, 60_000);
  const maxSessions = Math.floor(positiveOption('maxSessions', options.maxSessions, 10_000));
  // The manager's own store calls (the load's read, login and logout of a session not in
  // memory) are bounded like a session's: a store that never answers fails them with
  // STORE_UNAVAILABLE, so nothing waiting behind them in the same id's turn waits forever.
  const storeTimeoutMs = positiveOption('session.storeTimeoutMs', options.session?.storeTimeoutMs, sessionDefaults.storeTimeoutMs);
  const storeCall = <T>(operation: string, call: () => T | Promise<T>): Promise<T> =>
    Promise.resolve().then(() => boundedStoreCall(operation, storeTimeoutMs, call));
  // Map order is recency: an entry is re-inserted on every use.
  const entries = new Map<string, Entry>();
  const loading = new Map<string, Promise<Entry>>();
  // Per session id, what changes it (a load, a login, a logout) runs one after the other,
  // so a login or logout is never undone by a load that read the store before it.
  const turns = new Map<string, Promise<unknown>>();
  const inTurn = <T>(sessionId: string, work: () => Promise<T>): Promise<T> => {
    const previous = turns.get(sessionId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    turns.set(sessionId, settled);
    void settled.then(() => {
      if (turns.get(sessionId) === settled) turns.delete(sessionId);
    });
    return next;
  };
  let disposed = false;
  let sweeper: ReturnType<typeof setInterval> | null = null;

  const drop = (entry: Entry) => {
    if (entries.get(entry.id) === entry) entries.delete(entry.id);
    entry.gone = true;
    if (entry.pins === 0) void entry.session.dispose();
    if (entries.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = null;
    }
  };

  const sweep = () => {
    const now = Date.now();
    for (const entry of [...entries.values()]) {
      // A refresh under way (proactive, or for requests that left) finishes first.
      if (now - entry.lastUsed >= idleTimeoutMs && droppable(entry)) drop(entry);
    }
  };

  /** Whether dropping the session now is safe: nothing uses it and no refresh is under way. */
  const droppable = (entry: Entry) => {
    if (entry.pins > 0 || entry.fresh) return false;
    const { state } = entry.session.getStatus();
    return state === 'idle' || state === 'loggedOut';
  };

  const enforceBound = () => {
    if (entries.size <= maxSessions) return;
    for (const entry of [...entries.values()]) {
      if (entries.size <= maxSessions) break;
      if (droppable(entry)) drop(entry);
    }
  };

  const load = async (sessionId: string): Promise<Entry> => {
    const store = options.store(sessionId);
    const record = await storeCall('read the tokens', () => store.get());
    if (disposed) throw new DisposedError();
    // Unknown ids are not kept: requests with made-up session ids cannot fill memory.
    if (!record) throw new SessionExpiredError('No tokens are stored for this session; sign in again.');
    const dpop = options.dpop?.(sessionId);
    const session = createSession({
      ...options.session,
      refresh: options.refresh,
      store: primed(store, record),
      lock: options.lock?.(sessionId),
      ...(dpop ? { dpop } : {}),
    });
    const entry: Entry = { id: sessionId, session, pins: 0, lastUsed: Date.now(), gone: false, fresh: true };
    session.on('loggedOut', () => drop(entry));
    entries.set(sessionId, entry);
    if (!sweeper) {
      sweeper = setInterval(sweep, Math.max(10, Math.min(30_000, idleTimeoutMs / 2)));
      (sweeper as { unref?: () => void }).unref?.();
    }
    enforceBound();
    return entry;
  };

  const entryOf = (sessionId: string): Promise<Entry> => {
    if (disposed) return Promise.reject(new DisposedError());
    if (typeof sessionId !== 'string' || sessionId === '') return Promise.reject(new InvalidOptionsError('A session id is a non-empty string.'));
    const entry = entries.get(sessionId);
    if (entry) {
      entries.delete(sessionId);
      entries.set(sessionId, entry);
      entry.lastUsed = Date.now();
      return Promise.resolve(entry);
    }
    let pending = loading.get(sessionId);
    if (!pending) {
      // A login or logout of this id under way finishes first; then an entry it made is used.
      pending = inTurn(sessionId, () => {
        const made = entries.get(sessionId);
        return made ? Promise.resolve(made) : load(sessionId);
      }).finally(() => loading.delete(sessionId));
      loading.set(sessionId, pending);
    }
    return pending;
  };

  const withSession = async <T>(sessionId: string, fn: (session: Session) => T | Promise<T>): Promise<T> => {
    const entry = await entryOf(sessionId);
    entry.fresh = false;
    entry.pins++;
    try {
      return await fn(entry.session);
    } finally {
      entry.pins--;
      entry.lastUsed = Date.now();
      if (entry.gone && entry.pins === 0) void entry.session.dispose();
      else enforceBound();
    }
  };

  return {
    getValidAccessToken: (sessionId, callOptions) => withSession(sessionId, (session) => session.getAccessToken(callOptions)),
    withSession,
    async login(sessionId, tokens) {
      if (disposed) throw new DisposedError();
      await inTurn(sessionId, async () => {
        const entry = entries.get(sessionId);
        if (entry) await entry.session.login(tokens);
        else await storeCall('write the tokens', () => options.store(sessionId).set(tokens));
      });
    },
    async logout(sessionId) {
      if (disposed) throw new DisposedError();
      await inTurn(sessionId, async () => {
        const entry = entries.get(sessionId);
        if (entry) {
          await entry.session.logout();
          drop(entry);
        } else {
          await storeCall('clear the tokens', () => options.store(sessionId).clear());
          // A session in memory forgets its key when it logs out; this one is not in memory.
          if (options.dpop) await options.dpop(sessionId).clear();
        }
      });
    },
    get size() {
      return entries.size;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (sweeper) clearInterval(sweeper);
      sweeper = null;
      const all = [...entries.values()];
      entries.clear();
      await Promise.all(all.map((entry) => entry.session.dispose()));
    },
  };
}
