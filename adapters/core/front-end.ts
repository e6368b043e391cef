/**
 * The port front ends (fetch, axios, and the integrations built on them) use to put requests
 * through a session. It is not part of the public `Session` type: apps call `getAccessToken`,
 * front ends call this.
 */
import type { DPoPRequests } from './dpop-requests.js';
import type { Credential, Waiter } from './waiters.js';

export interface FrontEndPort {
  /** The credential to send now; a promise when the request has to wait for a refresh first. */
  credential(signal?: AbortSignal): Credential | Promise<Credential>;
  /** A request sent with `tokenVersion` got 401: wait for the credential to replay it with. */
  unauthorized(tokenVersion: number, signal?: AbortSignal): Promise<Credential>;
  /**
   * As `unauthorized`, for a front end that is its own waiter: `waiter.settled` is called
   * once with the outcome (at once when the signal is already aborted or the session disposed).
   * Absent from the port of a session made by an older copy of the package.
   */
  queueUnauthorized?(tokenVersion: number, waiter: Waiter, signal?: AbortSignal): void;
  /** A 401 for a request that will not wait (its body cannot be replayed): still start the refresh. */
  reportUnauthorized(tokenVersion: number): void;
  /** DPoP proofs for requests, when the session has a DPoP key store; undefined otherwise. */
  readonly dpop?: DPoPRequests;
}

/** Shared by every copy of the package (ESM and CJS builds, two versions), as the error brand is. */
const FRONT_END: unique symbol = Symbol.for('authchart.frontEnd') as never;

/** Give `session` its front-end port (not enumerable: it never shows in logs or spreads). */
export function attachFrontEnd<T extends object>(session: T, port: FrontEndPort): T {
  Object.defineProperty(session, FRONT_END, { value: port, enumerable: false });
  return session;
}

/** The front-end port of a session made by `createSession`. */
export function frontEndOf(session: object): FrontEndPort {
  const port = (session as { [FRONT_END]?: FrontEndPort })[FRONT_END];
  if (!port) throw new TypeError('[authchart] `session` must be a session made by createSession (or taken from another front end).');
  return port;
}
