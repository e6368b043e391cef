import { toRefreshFailure, type RefreshSuccess } from '../../machines/refresh.machine.js';
import { InvalidTokenResponseError, isAuthchartError, LockTimeoutError, RefreshError, StoreUnavailableError, toRefreshError } from './errors.js';
import { expiryOfAnswer } from './expiry.js';
import { normalizeTokenType, withNewerAccess } from './record.js';
import type { DPoPKeyStore, LockHandle, RefreshedTokens, RefreshLock, Refresher, StoredTokens, TokenSet } from './ports.js';
import { withTimeout } from './timeout.js';
import type { TokenFacts, TokenHolder } from './token-holder.js';

export interface RefreshTaskDeps {
  holder: TokenHolder;
  refresher: Refresher;
  /** `cookie`: the refresh token is an httpOnly cookie; the refresher gets `''` and none is stored. */
  refreshTokenIn: 'store' | 'cookie';
  lock?: RefreshLock;
  /** The session's DPoP key pair, read under the lock for each token call and handed to the refresher. */
  dpop?: DPoPKeyStore;
  refreshTimeoutMs: number;
  lockTimeoutMs: number;
  /** The floor of the refresh schedule: an absolute expiry closer than this is not trusted (R12). */
  minRefreshIntervalMs?: number;
  now: () => number;
  /** Called with the full error (cause included) before the machine sees its facts. */
  onError: (error: RefreshError) => void;
  /** A refresh that succeeded with a problem worth telling (a refused part of a 2xx answer, a store that failed). */
  onWarning: (error: RefreshError) => void;
}

/** How many times a write that lost a compare-and-set to a pushed token is merged and tried again. */
const MERGE_ATTEMPTS = 3;

function sessionGone(reason: string): RefreshError {
  return new RefreshError({ kind: 'permanent', reason, sessionGone: true }, 'There is no refresh token to present; sign in again.');
}

/** The session's DPoP key pair; a key store that fails is a transient failure (nothing was presented). */
async function dpopKeyOf(keys: DPoPKeyStore): Promise<CryptoKeyPair> {
  try {
    return await keys.getOrCreate();
  } catch (cause) {
    throw new RefreshError(
      { kind: 'transient', reason: 'DPOP_KEY_UNAVAILABLE', cause },
      'The DPoP key store could not give the key pair; the refresh is retried.',
    );
  }
}

function differs(a: TokenSet, b: TokenSet | null): boolean {
  return b === null || a.accessToken !== b.accessToken || a.refreshToken !== b.refreshToken;
}

/**
 * One refresh, as the `refresh` actor of the statechart runs it:
 * lock → double-check the store → call the refresher → store the rotated tokens → unlock.
 * Resolves with facts only (no token); rejects with the failure's facts, which the machine
 * reads (the full error goes to `deps.onError`).
 */
export async function runRefresh(deps: RefreshTaskDeps, signal: AbortSignal): Promise<RefreshSuccess> {
  const startedWith = deps.holder.tokens;
  try {
    return await refreshUnderLock(deps, signal, startedWith);
  } catch (error) {
    if (signal.aborted) throw error;
    const refreshError = toRefreshError(error);
    // The attempt failed, but another tab's or instance's refresh reached this session while
    // it ran (TOKENS_UPDATED): those tokens are the outcome. Failing would send the machine to
    // backoff, whose retry would rotate them once more: a second token call for one expiry.
    if (!refreshError.sessionGone && arrivedMeanwhile(deps.holder, startedWith)) {
      deps.onWarning(refreshError);
      return { ...heldFacts(deps.holder), source: 'store' };
    }
    deps.onError(refreshError);
    throw toRefreshFailure(refreshError);
  }
}

/** The facts of the tokens the session holds now (what it adopted without a token call of its own). */
function heldFacts(holder: TokenHolder): TokenFacts {
  return { tokenVersion: holder.tokenVersion, expiresAt: holder.tokens?.expiresAt ?? null, refreshAt: null };
}

/** Another refresh's tokens reached the session since `startedWith`: a new access token, not one of its own making. */
function arrivedMeanwhile(holder: TokenHolder, startedWith: StoredTokens | null): boolean {
  const held = holder.tokens;
  return held !== null && startedWith !== null && held.accessToken !== startedWith.accessToken;
}

/**
 * Acquire the lock within `timeoutMs` (or until `signal` aborts), even from a driver that
 * ignores both. A lock granted after we gave up on it is released at once, so an
 * abandoned acquire never leaves the lock held (R10).
 */
async function acquireBounded(lock: RefreshLock, timeoutMs: number, signal: AbortSignal): Promise<LockHandle> {
  let abandoned = false;
  try {
    return await withTimeout(
      signal,
      timeoutMs,
      (lockSignal) =>
        lock.acquire({ signal: lockSignal, timeoutMs }).then((handle) => {
          if (abandoned) void Promise.resolve(handle.release()).catch(() => undefined);
          return handle;
        }),
      () => new LockTimeoutError(timeoutMs),
    );
  } catch (error) {
    abandoned = true;
    throw error;
  }
}

/**
 * `startedWith`: what this refresh was started for, read before waiting for the lock: while we
 * wait, another tab may refresh and its tokens reach us (TOKENS_UPDATED) — the double-check
 * must still see them as new, or we would refresh a second time.
 */
async function refreshUnderLock(deps: RefreshTaskDeps, signal: AbortSignal, startedWith: StoredTokens | null): Promise<RefreshSuccess> {
  const { holder } = deps;
  const handle = deps.lock ? await acquireBounded(deps.lock, deps.lockTimeoutMs, signal) : undefined;
  const abortIfAborted = () => {
    if (signal.aborted) throw signal.reason;
  };
  const done = (facts: TokenFacts | null, source: RefreshSuccess['source']): RefreshSuccess => {
    abortIfAborted();
    return { ...(facts ?? heldFacts(holder)), source };
  };
  const adopt = (record: StoredTokens, source: RefreshSuccess['source']) => {
    abortIfAborted();
    holder.discardOwedWrite();
    return done(holder.hold(record), source);
  };
  try {
    // Tokens this session holds but could not store are newer than the store: write them first.
    const inStep = await holder.flush();
    let base: StoredTokens | null;
    if (inStep) {
      const stored = await holder.read();
      if (!stored) throw sessionGone('NO_SESSION');
      if (holder.isRotatedAway(stored.refreshToken) && holder.tokens) {
        // The store holds an older record than this session (it carries a refresh token this
        // session rotated away: a stale push, a late write). Refresh from what this session
        // holds, and write on top of that record.
        base = { ...holder.tokens, version: stored.version };
      } else {
        // Double-check (R1, across tabs and instances): someone else may have refreshed
        // while we waited for the lock. Newer tokens in the store are theirs: use them. This
        // compares tokens, never expiry times, so it does not depend on two clocks agreeing.
        if (differs(stored, startedWith)) return adopt(stored, 'store');
        base = stored;
      }
    } else {
      // The store still fails. Tokens another refresh made reached us meanwhile: use them.
      if (arrivedMeanwhile(holder, startedWith)) return done(null, 'store');
      // Otherwise refresh from what we hold (it is newer than the store).
      base = holder.tokens ? { ...holder.tokens } : null;
      if (!base) throw new StoreUnavailableError('read the tokens');
    }
    const inCookie = deps.refreshTokenIn === 'cookie';
    if (!base.refreshToken && !inCookie) throw sessionGone('NO_REFRESH_TOKEN');
    const presented = inCookie ? '' : base.refreshToken!;

    let answer: RefreshedTokens;
    let warning: RefreshError | undefined;
    const receivedAt = () => deps.now();
    try {
      // Lost the lock meanwhile (taken over while this tab was frozen, or held past its
      // bound): the new holder presents this refresh token, so presenting it too is a reuse.
      if (handle?.signal?.aborted) throw handle.signal.reason;
      answer = await withTimeout(
        signal,
        deps.refreshTimeoutMs,
        async (callSignal) => {
          const dpopKeyPair = deps.dpop ? await dpopKeyOf(deps.dpop) : undefined;
          return deps.refresher(presented, dpopKeyPair ? { signal: callSignal, dpopKeyPair } : { signal: callSignal });
        },
        () => new RefreshError({ kind: 'transient', reason: 'TIMEOUT' }, `The token endpoint did not answer within ${deps.refreshTimeoutMs} ms.`),
      );
    } catch (error) {
      abortIfAborted();
      const refreshError = toRefreshError(error);
      const rotated = InvalidTokenResponseError.rotatedTokensOf(error);
      if (rotated?.accessToken) {
        // R11: a refused 2xx answer with a usable access token: the refresh is done,
        // the refusal is a warning.
        answer = { accessToken: rotated.accessToken, refreshToken: rotated.refreshToken, expiresIn: rotated.expiresIn, tokenType: rotated.tokenType };
        warning = refreshError;
      } else if (rotated?.refreshToken) {
        holder.noteRotation(presented, rotated.refreshToken);
        // R11 without a usable access token: keep the rotated refresh token, so the
        // retry presents it and never the one the server has rotated away.
        const salvaged: TokenSet = { ...base, refreshToken: rotated.refreshToken };
        delete (salvaged as Partial<StoredTokens>).version;
        await keepRotated(holder, salvaged, base.version);
        throw refreshError;
      } else {
        if (refreshError.kind === 'permanent' || handle?.signal?.aborted) {
          // R5: before counting a permanent failure (or one after losing the lock), see
          // whether another tab or instance rotated the refresh token meanwhile; if so,
          // theirs is the session now. Not a record older than a write this session still
          // owes: that one holds the refresh token this session rotated away itself.
          const again = await Promise.resolve(holder.read()).catch(() => null);
          // (With the refresh token in a cookie, a new access token is the sign.)
          const moved = again && (inCookie ? again.accessToken !== base.accessToken : again.refreshToken !== base.refreshToken);
          if (again && moved && holder.supersedes(again)) return adopt(again, 'store');
        }
        throw refreshError;
      }
    }
    // The server answered: what was presented is dead there, whatever happens to the answer.
    if (!inCookie) holder.noteRotation(presented, answer?.refreshToken);
    abortIfAborted();
    if (typeof answer?.accessToken !== 'string' || answer.accessToken === '') {
      throw new InvalidTokenResponseError('the refresher returned no access token');
    }
    const next: TokenSet = {
      accessToken: answer.accessToken,
      // Rotation: keep the old refresh token only when the server sent none.
      refreshToken: inCookie ? undefined : (answer.refreshToken ?? base.refreshToken),
    };
    if (next.refreshToken === undefined) delete next.refreshToken;
    const expiresAt = expiryOfAnswer(answer, receivedAt(), deps.minRefreshIntervalMs);
    if (expiresAt !== undefined) next.expiresAt = expiresAt;
    const tokenType = normalizeTokenType(answer.tokenType);
    if (tokenType) next.tokenType = tokenType;
    const result = await store(deps, next, base, presented);
    if (warning) deps.onWarning(warning);
    return result;
  } finally {
    if (handle) {
      try {
        await handle.release();
      } catch {
        // A lock that fails to release expires on its own (every driver has a bound).
      }
    }
  }
}

/**
 * Store the new tokens before anything is released, by compare-and-set, so a login or
 * logout that happened meanwhile is not overwritten by this older session. If the store
 * moved because tokens were pushed during the refresh (`updateTokens` with the refresh
 * token we presented, or none), ours carry the only rotated refresh token: merge and write
 * again (R15). If the store fails, keep the tokens in memory and use them (R11).
 */
async function store(deps: RefreshTaskDeps, next: TokenSet, base: StoredTokens, presented: string): Promise<RefreshSuccess> {
  const { holder } = deps;
  let expected = base.version;
  let tokens = next;
  for (let attempt = 0; attempt < MERGE_ATTEMPTS; attempt++) {
    let written: StoredTokens | null;
    try {
      written = await holder.write(tokens, expected);
    } catch (error) {
      if (!isAuthchartError(error)) throw error;
      const facts = holder.holdUnsaved(tokens, expected);
      deps.onWarning(toRefreshError(error));
      return { ...(facts ?? { tokenVersion: holder.tokenVersion, expiresAt: tokens.expiresAt ?? null, refreshAt: null }), source: 'server' };
    }
    if (written) return { ...holder.hold(written), source: 'server' };
    const current = await holder.read();
    if (!current) throw sessionGone('NO_SESSION');
    // A push that carried the refresh token we presented (or none), or any stale record (it
    // carries a refresh token this session rotated away: an old write that landed late):
    // ours carry the only live refresh token.
    const pushedOnly =
      deps.refreshTokenIn === 'cookie' ||
      current.refreshToken === undefined ||
      current.refreshToken === presented ||
      holder.isRotatedAway(current.refreshToken);
    if (!pushedOnly) return { ...holder.hold(current), source: 'store' };
    // Ours wins it. The newer access token wins (by JWT times; an opaque one: ours, the last
    // answer the server gave).
    tokens = withNewerAccess(tokens, current);
    expected = current.version;
  }
  const current = await holder.read();
  if (!current) throw sessionGone('NO_SESSION');
  return { ...holder.hold(current), source: 'store' };
}

/** Keep a rotated refresh token from a refused answer: in the store, or in memory if the store fails. */
async function keepRotated(holder: TokenHolder, salvaged: TokenSet, baseVersion: number): Promise<void> {
  let kept: StoredTokens | null = null;
  try {
    kept = await holder.write(salvaged, baseVersion);
  } catch {
    holder.holdUnsaved(salvaged, baseVersion);
    return;
  }
  if (kept) holder.keep(kept);
}
