/**
 * Tokens kept in the browser, sealed in an httpOnly cookie, with no server store. Parallel
 * requests all carry the same old refresh token, so one rotation must serve them all:
 * each presented refresh token gets one authchart session (the statechart's single flight
 * inside the process; with a shared lock, one token call across instances), whose token
 * store is a short-lived result cache under a keyed hash of that refresh token. A request
 * that lost the race, or that arrives later with the old cookie, gets the winner's sealed
 * cookie instead of presenting a rotated refresh token.
 */
import { InvalidOptionsError, RefreshUnavailableError, SessionExpiredError } from '../core/errors.js';
import { positiveOption } from '../core/options.js';
import type { Refresher, StoredTokens, TokenSet, TokenStore } from '../core/ports.js';
import { LocalRotationCache, type SharedRotationCache } from './rotation-cache.js';
import { createSealer, type SealedTokens, type Sealer } from './seal.js';
import { createSessionManager, type ManagedSessionOptions } from './session-manager.js';

/**
 * Options of the sealed-cookie storage.
 * @example
 * { secret: process.env.AUTH_SECRET!, refresh: oauthRefresher({ tokenEndpoint, clientId }), shared: redisRotationCache({ client, subscriber }) }
 */
export interface TokenCookieOptions {
  /**
   * The sealing secret, at least 32 characters; or a list, newest first, to rotate it (the
   * first seals, all unseal). Every instance needs the same.
   */
  secret: string | readonly string[];
  /** How to refresh: `oauthRefresher(...)` from `authchart/oauth`, or your own function. */
  refresh: Refresher;
  /**
   * Shares rotation results and the rotation lock between instances:
   * `redisRotationCache(...)` from `authchart/redis`. Without it, results are shared inside
   * this process only: right for one instance, WRONG for several (two instances would each
   * present the same refresh token).
   * @default undefined (this process only)
   */
  shared?: SharedRotationCache;
  /**
   * How long a rotation's result stays available to requests that still carry the old
   * cookie (parallel requests, a response whose cookie never reached the browser, a Server
   * Component that could not write it). Past it, the old cookie's refresh token is spent.
   * @default 60000
   */
  resultTtlMs?: number;
  /**
   * Rotate this long before the access token's expiry, so the request (and the render
   * behind the proxy) does not outlive it; never more than half the token's lifetime, so
   * short-lived tokens are not rotated on every request.
   * @default 10000
   */
  leewayMs?: number;
  /**
   * Options of the rotation sessions (`refreshTimeoutMs`, `lockTimeoutMs`, `maxWaitMs`,
   * `backoffBaseMs`, `logger`, …). A refused refresh token ends the session at once
   * (`maxPermanentFailures: 1`): the cookie's refresh token is spent.
   * @default { debounceMs: 0, maxPermanentFailures: 1, proactive: false }
   */
  session?: ManagedSessionOptions;
}

/** What {@link TokenCookieCore.resolve} found. */
export interface ResolvedTokens {
  /** Tokens whose access token is valid now. */
  tokens: TokenSet;
  /** The new cookie value when the tokens changed (a rotation); null when the cookie is current. */
  cookie: string | null;
}

export interface TokenCookieCore {
  readonly sealer: Sealer;
  /**
   * Valid tokens for a presented cookie value: its own, or the result of rotating its
   * refresh token (one rotation however many requests present it). Null for a value that
   * is not a sealed cookie of this secret. Rejects with `SESSION_EXPIRED` when the refresh
   * token is refused, and with `REFRESH_UNAVAILABLE` / `REDIS_UNAVAILABLE` / … when it
   * cannot be rotated now.
   */
  resolve(value: string, options?: { signal?: AbortSignal }): Promise<ResolvedTokens | null>;
  /**
   * The API refused `tokens`' access token (401) although it looked valid (clocks differ,
   * or it was revoked): rotate its refresh token now (once, however many requests report
   * it; a 401 for tokens already rotated gets that rotation's result).
   */
  unauthorized(tokens: TokenSet, options?: { signal?: AbortSignal }): Promise<ResolvedTokens>;
  /** Seal a sign-in's tokens into a cookie value (refusing ones too large for a cookie). */
  seal(tokens: TokenSet): Promise<string>;
  dispose(): Promise<void>;
}

/** Browsers keep about 4096 bytes per cookie, name and attributes included. */
const MAX_COOKIE_VALUE = 3800;
const MAX_HOPS = 3;

/** The token fields only (not when they were sealed). */
function plain(tokens: SealedTokens): TokenSet {
  const set: TokenSet = { accessToken: tokens.accessToken };
  if (tokens.refreshToken !== undefined) set.refreshToken = tokens.refreshToken;
  if (tokens.expiresAt !== undefined) set.expiresAt = tokens.expiresAt;
  return set;
}

export function createTokenCookieCore(options: TokenCookieOptions): TokenCookieCore {
  if (typeof options?.refresh !== 'function')
    throw new InvalidOptionsError('The token cookie storage needs `refresh`, e.g. oauthRefresher({ tokenEndpoint, clientId }).');
  const sealer = createSealer(options.secret);
  const resultTtlMs = positiveOption('resultTtlMs', options.resultTtlMs, 60_000, 'number of milliseconds');
  const leewayMs = options.leewayMs === 0 ? 0 : positiveOption('leewayMs', options.leewayMs, 10_000, 'number of milliseconds');
  const now = options.session?.now ?? Date.now;
  const shared = options.shared;
  const local = new LocalRotationCache(10_000, now);
  // The tokens each rotation starts from, while a request that presented them waits.
  const seeds = new Map<string, { tokens: TokenSet; pins: number }>();

  const readResult = async (key: string): Promise<string | null> => {
    const mine = local.get(key);
    if (mine !== null || !shared) return mine;
    const theirs = await shared.get(key);
    return theirs === null ? null : local.add(key, theirs, resultTtlMs);
  };

  /**
   * The store of the session that rotates the refresh token `key` names: the seed (expired,
   * version 1) until a result exists, then the result (version 2, no expiry: this session
   * never rotates a second refresh token; the next one has its own key, session and lock).
   */
  const rotationStore = (key: string): TokenStore => {
    const seed = seeds.get(key)?.tokens;
    return {
      async get(): Promise<StoredTokens | null> {
        const sealed = await readResult(key);
        const result = sealed === null ? null : await sealer.unseal(sealed);
        if (result) return { accessToken: result.accessToken, refreshToken: result.refreshToken, version: 2 };
        if (!seed) return null;
        return { accessToken: seed.accessToken, refreshToken: seed.refreshToken, expiresAt: 0, version: 1 };
      },
      async set(tokens, setOptions): Promise<StoredTokens | null> {
        if (setOptions?.expectedVersion !== 1) return null;
        const sealed = await sealer.seal(tokens, now());
        const stored = shared ? await shared.add(key, sealed, resultTtlMs) : sealed;
        local.add(key, stored, resultTtlMs);
        // Another instance stored its result first: the session adopts it (re-read).
        if (stored !== sealed) return null;
        return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, version: 2 };
      },
      clear() {
        // The cookie belongs to the browser; the caller deletes it on SESSION_EXPIRED.
      },
    };
  };

  const manager = createSessionManager({
    refresh: options.refresh,
    store: rotationStore,
    lock: shared?.lock ? (key) => shared.lock!(key) : undefined,
    idleTimeoutMs: Math.max(1000, Math.min(10_000, resultTtlMs / 2)),
    session: { debounceMs: 0, maxPermanentFailures: 1, proactive: false, wakeEvents: false, ...options.session },
  });

  /** `leewayMs`, but at most half the lifetime the token had when it was sealed (as the statechart's proactive refresh). */
  const leewayOf = (tokens: SealedTokens): number =>
    tokens.sealedAt !== undefined && tokens.expiresAt !== undefined ? Math.min(leewayMs, Math.max(0, tokens.expiresAt - tokens.sealedAt) / 2) : leewayMs;

  const rotate = async (key: string, tokens: TokenSet, signal?: AbortSignal): Promise<string> => {
    const seed = seeds.get(key) ?? { tokens, pins: 0 };
    seed.pins++;
    seeds.set(key, seed);
    try {
      await manager.getValidAccessToken(key, { signal });
    } finally {
      if (--seed.pins === 0 && seeds.get(key) === seed) seeds.delete(key);
    }
    const sealed = await readResult(key);
    // The rotation happened longer than `resultTtlMs` ago (its session was still in memory):
    // this cookie's refresh token is spent and its result is gone.
    if (sealed === null) throw new SessionExpiredError('This cookie is older than its last rotation by more than resultTtlMs; sign in again.');
    return sealed;
  };

  return {
    sealer,
    async resolve(value, callOptions) {
      let tokens = await sealer.unseal(value);
      if (!tokens) return null;
      let cookie: string | null = null;
      for (let hop = 0; ; hop++) {
        // A rotation's result is used as it is (R12: a token born expired is used until a 401 says otherwise).
        const margin = hop === 0 ? leewayOf(tokens) : 0;
        if (tokens.expiresAt === undefined || tokens.expiresAt - margin > now() || hop >= MAX_HOPS) return { tokens: plain(tokens), cookie };
        if (!tokens.refreshToken) throw new SessionExpiredError('The access token has expired and the cookie holds no refresh token; sign in again.');
        const key = await sealer.keyOf(tokens.refreshToken);
        const sealed = (await readResult(key)) ?? (await rotate(key, tokens, callOptions?.signal));
        const next = await sealer.unseal(sealed);
        // Sealed with a secret this instance does not know (a deploy rolling out a new one).
        if (!next) throw new RefreshUnavailableError();
        tokens = next;
        cookie = sealed;
      }
    },
    async unauthorized(tokens, callOptions) {
      if (!tokens.refreshToken) throw new SessionExpiredError('The access token was refused and the cookie holds no refresh token; sign in again.');
      const key = await sealer.keyOf(tokens.refreshToken);
      // R3: a 401 for tokens already rotated is stale, and gets the rotation's result.
      const sealed = (await readResult(key)) ?? (await rotate(key, tokens, callOptions?.signal));
      const next = await sealer.unseal(sealed);
      if (!next) throw new RefreshUnavailableError();
      return { tokens: plain(next), cookie: sealed };
    },
    async seal(tokens) {
      const sealed = await sealer.seal(plain(tokens), now());
      if (sealed.length > MAX_COOKIE_VALUE) {
        throw new InvalidOptionsError(
          `The sealed tokens take ${sealed.length} bytes, more than a cookie holds (about 4 KB). Keep them on the server instead (the session id storage).`,
        );
      }
      return sealed;
    },
    dispose: () => manager.dispose(),
  };
}
