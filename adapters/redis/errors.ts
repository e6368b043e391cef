import { ErrorCode, RefreshError } from '../core/errors.js';

/**
 * Redis did not answer (connection down, restarting, or slower than the bound). Transient:
 * a refresh that meets it backs off and retries; a request that meets it outside a refresh
 * gets it as is. The cause carries the client's error name and message only (never the
 * command's arguments, which may hold tokens).
 */
export class RedisUnavailableError extends RefreshError {
  constructor(operation: string, options?: { cause?: unknown }) {
    super(
      { kind: 'transient', reason: ErrorCode.REDIS_UNAVAILABLE, cause: options?.cause },
      `Redis did not answer or refused (${operation}). Check the connection; refreshes are retried with backoff.`,
      ErrorCode.REDIS_UNAVAILABLE,
    );
    this.name = 'RedisUnavailableError';
  }
}
