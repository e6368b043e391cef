import type { RefreshSuccess } from '../../machines/refresh.machine.js';
import { InvalidTokenResponseError, lockTimeoutError, RefreshError, toRefreshError } from './errors.js';
import type { LockHandle, RefreshedTokens, RefreshLock, Refresher, StoredTokens, TokenSet, TokenStore } from './ports.js';
import { jwtExpiresAt } from './jwt.js';
import { withTimeout } from './timeout.js';

export interface RefreshTaskDeps {
  store: TokenStore;
  refresher: Refresher;
  /** `cookie`: the refresh token is an httpOnly cookie; the refresher gets `''` and none is stored. */
  refreshTokenIn: 'store' | 'cookie';
  lock?: RefreshLock;
  refreshTimeoutMs: number;
  lockTimeoutMs: number;
  now: () => number;
  /** The tokens the session holds now: read once, when the refresh starts (they are what a 401 was for). */
  held: () => StoredTokens | null;
  /** Make `record` the session's tokens; returns the facts the machine keeps of it. */
  adopt: (record: StoredTokens) => Omit<RefreshSuccess, 'source'>;
  /** Called with the full error (cause included) before the machine sees its summary. */
  onError: (error: RefreshError) => void;
  /** A refresh that succeeded with a problem worth telling (a refused part of a 2xx answer). */
  onWarning: (error: RefreshError) => void;
  /**
   * Keep `record` (a rotated refresh token from a refused answer) without a new token
   * version: the access token is the same one, so a 401 for it is not stale.
   */
  keep: (record: StoredTokens) => void;
}

function sessionGone(reason: string): RefreshError {
  return new RefreshError({ kind: 'permanent', reason, sessionGone: true }, 'There is no refresh token to present; sign in again.');
}

function differs(a: TokenSet, b: TokenSet | null): boolean {
  return b === null || a.accessToken !== b.accessToken || a.refreshToken !== b.refreshToken;
}

/**
 * One refresh, as the `refresh` actor of the statechart runs it:
 * lock → double-check the store → call the refresher → store the rotated tokens → unlock.
 * Resolves with facts only (no token); rejects with a plain failure object the machine
 * reads (the full error goes to `deps.onError`).
 */
export async function runRefresh(deps: RefreshTaskDeps, signal: AbortSignal): Promise<RefreshSuccess> {
  try {
    return await refreshUnderLock(deps, signal);
  } catch (error) {
    if (signal.aborted) throw error;
    const refreshError = toRefreshError(error);
    deps.onError(refreshError);
    throw refreshError.toFailure();
  }
}

/**
 * Acquire the lock within `timeoutMs` (or until `signal` aborts), even from a driver that
 * ignores both. A lock granted after we gave up on it is released at once, so an
 * abandoned acquire never leaves the lock held (rule 10).
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
      () => lockTimeoutError(timeoutMs),
    );
  } catch (error) {
    abandoned = true;
    throw error;
  }
}

async function refreshUnderLock(deps: RefreshTaskDeps, signal: AbortSignal): Promise<RefreshSuccess> {
  const { store, now } = deps;
  // What this refresh was started for. Read before waiting for the lock: while we wait,
  // another tab may refresh and its tokens reach us (TOKENS_UPDATED) — the double-check
  // must still see them as new, or we would refresh a second time.
  const startedWith = deps.held();
  const handle = deps.lock ? await acquireBounded(deps.lock, deps.lockTimeoutMs, signal) : undefined;
  const accept = (record: StoredTokens, source: RefreshSuccess['source']): RefreshSuccess => {
    if (signal.aborted) throw signal.reason;
    return { ...deps.adopt(record), source };
  };
  try {
    // Double-check (DESIGN, RefreshLock): someone else may have refreshed while we waited.
    const stored = await store.get();
    if (!stored) throw sessionGone('NO_SESSION');
    const fresh = stored.expiresAt === undefined || stored.expiresAt > now();
    if (fresh && differs(stored, startedWith)) return accept(stored, 'store');
    const inCookie = deps.refreshTokenIn === 'cookie';
    if (!stored.refreshToken && !inCookie) throw sessionGone('NO_REFRESH_TOKEN');
    const presented = inCookie ? '' : stored.refreshToken!;

    let answer: RefreshedTokens;
    let warning: RefreshError | undefined;
    try {
      // Lost the lock meanwhile (taken over while this tab was frozen, or held past its
      // bound): the new holder presents this refresh token, so presenting it too is a reuse.
      if (handle?.signal?.aborted) throw handle.signal.reason;
      answer = await withTimeout(
        signal,
        deps.refreshTimeoutMs,
        (callSignal) => deps.refresher(presented, { signal: callSignal }),
        () => new RefreshError({ kind: 'transient', reason: 'TIMEOUT' }, `The token endpoint did not answer within ${deps.refreshTimeoutMs} ms.`),
      );
    } catch (error) {
      const refreshError = toRefreshError(error);
      const rotated = InvalidTokenResponseError.rotatedTokensOf(error);
      if (rotated && !signal.aborted) {
        // Rule 11: the server answered 2xx, so it may have rotated the refresh token. Keep
        // what it sent; with a usable access token the refresh is done (the refusal is a
        // warning), otherwise the retry presents the new refresh token, never the old one.
        const salvaged: TokenSet = { accessToken: rotated.accessToken ?? stored.accessToken, refreshToken: rotated.refreshToken ?? stored.refreshToken };
        if (rotated.accessToken) {
          answer = { ...salvaged, accessToken: rotated.accessToken, expiresIn: rotated.expiresIn };
          warning = refreshError;
        } else {
          if (stored.expiresAt !== undefined) salvaged.expiresAt = stored.expiresAt;
          const kept = await store.set(salvaged, { expectedVersion: stored.version });
          if (kept) deps.keep(kept);
          throw refreshError;
        }
      } else {
        if ((refreshError.kind === 'permanent' || handle?.signal?.aborted) && !signal.aborted) {
          // Rule 5: before counting a permanent failure (or one after losing the lock), see
          // whether another tab or instance rotated the refresh token meanwhile; if so,
          // theirs is the session now.
          const again = await store.get();
          // (With the refresh token in a cookie, a new access token is the sign.)
          const moved = again && (inCookie ? again.accessToken !== stored.accessToken : again.refreshToken !== stored.refreshToken);
          if (again && moved) return accept(again, 'store');
        }
        throw refreshError;
      }
    }
    if (signal.aborted) throw signal.reason;
    if (typeof answer?.accessToken !== 'string' || answer.accessToken === '') {
      throw new InvalidTokenResponseError('the refresher returned no access token');
    }
    const next: TokenSet = {
      accessToken: answer.accessToken,
      // Rotation: keep the old refresh token only when the server sent none.
      refreshToken: answer.refreshToken ?? stored.refreshToken,
    };
    const expiresAt =
      answer.expiresAt ?? (answer.expiresIn !== undefined ? now() + answer.expiresIn * 1000 : jwtExpiresAt(answer.accessToken));
    if (expiresAt !== undefined) next.expiresAt = expiresAt;
    // Stored before anything is released; compare-and-set so a login or logout that
    // happened meanwhile is not overwritten by this older session.
    const written = await store.set(next, { expectedVersion: stored.version });
    if (written) {
      const success = accept(written, 'server');
      if (warning) deps.onWarning(warning);
      return success;
    }
    const current = await store.get();
    if (current) return accept(current, 'store');
    throw sessionGone('NO_SESSION');
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
