import type { RefreshSuccess } from '../../machines/refresh.machine.js';
import { ErrorCode, InvalidTokenResponseError, RefreshError, toRefreshError } from './errors.js';
import type { LockHandle, RefreshLock, Refresher, StoredTokens, TokenSet, TokenStore } from './ports.js';
import { jwtExpiresAt } from './jwt.js';
import { withTimeout } from './timeout.js';

export interface RefreshTaskDeps {
  store: TokenStore;
  refresher: Refresher;
  lock?: RefreshLock;
  refreshTimeoutMs: number;
  lockTimeoutMs: number;
  now: () => number;
  /** The tokens the session holds now; read when the refresh starts (what a 401 was for). */
  held: () => StoredTokens | null;
  /** Make `record` the session's tokens; returns the facts the machine keeps of it. */
  adopt: (record: StoredTokens) => Omit<RefreshSuccess, 'source'>;
  /** Called with the full error (cause included) before the machine sees its summary. */
  onError: (error: RefreshError) => void;
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

async function refreshUnderLock(deps: RefreshTaskDeps, signal: AbortSignal): Promise<RefreshSuccess> {
  const { store, now } = deps;
  // The tokens this refresh was started for. Read before waiting for the lock: while we
  // wait, the session may already follow another tab's write (store.subscribe), and
  // comparing with what it holds then would miss that someone else refreshed.
  const startedWith = deps.held();
  let handle: LockHandle | undefined;
  if (deps.lock) {
    handle = await withTimeout(
      signal,
      deps.lockTimeoutMs,
      (lockSignal) => deps.lock!.acquire({ signal: lockSignal, timeoutMs: deps.lockTimeoutMs }),
      () => new RefreshError({ kind: 'transient', reason: ErrorCode.LOCK_TIMEOUT }, `The refresh lock was not acquired within ${deps.lockTimeoutMs} ms.`, ErrorCode.LOCK_TIMEOUT),
    );
  }
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
    if (!stored.refreshToken) throw sessionGone('NO_REFRESH_TOKEN');

    let answer;
    try {
      answer = await withTimeout(
        signal,
        deps.refreshTimeoutMs,
        (callSignal) => deps.refresher(stored.refreshToken!, { signal: callSignal }),
        () => new RefreshError({ kind: 'transient', reason: 'TIMEOUT' }, `The token endpoint did not answer within ${deps.refreshTimeoutMs} ms.`),
      );
    } catch (error) {
      const refreshError = toRefreshError(error);
      if (refreshError.kind === 'permanent' && !signal.aborted) {
        // Rule 5: before counting a permanent failure, see whether another tab or instance
        // rotated the refresh token meanwhile; if so, theirs is the session now.
        const again = await store.get();
        if (again && again.refreshToken !== stored.refreshToken) return accept(again, 'store');
      }
      throw refreshError;
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
    if (written) return accept(written, 'server');
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
