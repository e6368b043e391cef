import { ErrorCode, RefreshError } from '../core/errors.js';

export function lockTimeout(timeoutMs: number): RefreshError {
  return new RefreshError(
    { kind: 'transient', reason: ErrorCode.LOCK_TIMEOUT },
    `The refresh lock was not acquired within ${timeoutMs} ms.`,
    ErrorCode.LOCK_TIMEOUT,
  );
}
