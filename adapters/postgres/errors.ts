import { ErrorCode, RefreshError } from '../core/errors.js';

/**
 * PostgreSQL did not answer within `operationTimeoutMs` (connection down, server restarting,
 * a lock held on the table) or refused the query. Transient: a refresh that meets it backs
 * off and retries; a request that meets it outside a refresh gets it as is. Code
 * `STORE_UNAVAILABLE`. The cause carries the driver's error name, SQLSTATE code and message
 * only (never a query's parameters, which may hold tokens).
 * @example
 * if (isAuthchartError(error, 'STORE_UNAVAILABLE')) res.status(503).end()
 */
export class PostgresUnavailableError extends RefreshError {
  constructor(operation: string, options?: { cause?: unknown; hint?: string }) {
    super(
      { kind: 'transient', reason: ErrorCode.STORE_UNAVAILABLE, cause: options?.cause },
      `PostgreSQL did not answer or refused (${operation}). ${options?.hint ?? 'Check the connection; refreshes are retried with backoff.'}`,
      ErrorCode.STORE_UNAVAILABLE,
    );
    this.name = 'PostgresUnavailableError';
  }
}
