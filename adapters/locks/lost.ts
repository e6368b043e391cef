import { RefreshError } from '../core/errors.js';
import type { LockHandle } from '../core/ports.js';

/**
 * The reason a {@link LockHandle}'s `signal` aborts with when the handle lost the lock
 * without releasing it. Transient: the refresh that meets it backs off, and by then the new
 * holder has stored the tokens it adopts.
 */
export function lockLostError(why: string): RefreshError {
  return new RefreshError(
    { kind: 'transient', reason: 'LOCK_LOST' },
    `The refresh lock was lost (${why}); another holder refreshes, and this one adopts what it stores.`,
  );
}
