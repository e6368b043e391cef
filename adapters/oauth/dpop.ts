/**
 * DPoP (RFC 9449) for the token calls of one refresher: proofs signed by oauth4webapi's
 * `DPoP()` handle, and the token endpoint's nonce, learned from its answers and shared by
 * every session that uses this refresher (a server's sessions share one authorization
 * server, so they share its nonce).
 *
 * The nonce policy, and why: a server that requires nonces answers a proof without one (or
 * with a stale one) `use_dpop_nonce`. A server that checks the proof before the grant has
 * not consumed the refresh token then, and the retry with the new nonce is safe (the
 * statechart retries at once). A server that consumes the refresh token first (the sequence
 * of atproto #3859) has, and any retry presents a spent token: on a strict server, reuse and
 * a revoked session. So a refresh token is presented only with a nonce the server issued
 * recently: when there is none, or it is older than `nonceMaxAgeMs`, a probe (the same grant
 * with a placeholder refresh token no server can hold) fetches one first. A server whose
 * answer to the probe carries no nonce does not use them: no more probes until it asks.
 * Against servers that require nonces this costs nothing: a first call to learn the nonce
 * is unavoidable, whether it is a probe or a refused refresh.
 */
import * as oauth from 'oauth4webapi';
import { RefreshError } from '../core/errors.js';

/** The placeholder a nonce probe presents as its refresh token. */
export const NONCE_PROBE_REFRESH_TOKEN = 'authchart-dpop-nonce-probe';

/**
 * The reason (the failure's `reason`) of a token call refused with `use_dpop_nonce`:
 * the statechart retries it at once instead of counting a failure.
 */
export const DPOP_NONCE_REASON = 'use_dpop_nonce';

/** A refused call that asked for a new nonce: transient, and retried at once by the statechart. */
export function nonceChallenge(status: number | undefined): RefreshError {
  return new RefreshError(
    { kind: 'transient', reason: DPOP_NONCE_REASON, status },
    'The token endpoint asked for a new DPoP nonce (use_dpop_nonce); the refresh is retried at once with it.',
  );
}

export interface TokenEndpointDPoP {
  /** The proof handle for this key pair (proofs carry the shared nonce). */
  handle(keyPair: CryptoKeyPair): oauth.DPoPHandle;
  /** Whether a refresh token may be presented now, or a probe must fetch a nonce first. */
  needsProbe(): boolean;
  /**
   * Fetch a nonce without presenting a refresh token. `send` makes the probe's request with
   * the handle it is given (a fresh one, so the proof carries no nonce). Concurrent callers
   * share one probe; when the shared one fails, a caller makes its own.
   */
  probe(keyPair: CryptoKeyPair, send: (handle: oauth.DPoPHandle) => Promise<Response>): Promise<void>;
  /** Read the nonce an answer carries (any status); `accepted`: a 2xx answer, which took the proof's nonce. */
  learn(response: Response, accepted: boolean): void;
}

/**
 * The DPoP state of one refresher (one token endpoint).
 * @param nonceMaxAgeMs How long a nonce is trusted with a refresh token after the server issued or last accepted it.
 */
export function tokenEndpointDPoP(client: oauth.Client, nonceMaxAgeMs: number, now: () => number = Date.now): TokenEndpointDPoP {
  let nonce: { value: string; at: number } | null = null;
  /** false once a probe's answer came without a nonce: the server does not use them. */
  let usesNonces = true;
  let probing: Promise<void> | null = null;
  const handles = new WeakMap<CryptoKeyPair, oauth.DPoPHandle>();

  const fresh = () => {
    if (!nonce) return false;
    const age = now() - nonce.at;
    // A clock that went back makes the age negative: do not trust the nonce then either.
    return age >= 0 && age <= nonceMaxAgeMs;
  };

  const state: TokenEndpointDPoP = {
    handle(keyPair) {
      let handle = handles.get(keyPair);
      if (!handle) {
        handle = oauth.DPoP(client, keyPair, {
          // The handle keeps nonces of its own, per key pair; the endpoint's nonce is shared.
          [oauth.modifyAssertion]: (_header, payload) => {
            if (nonce) payload.nonce = nonce.value;
            else delete payload.nonce;
          },
        });
        handles.set(keyPair, handle);
      }
      return handle;
    },
    needsProbe: () => usesNonces && !fresh(),
    async probe(keyPair, send) {
      const shared = probing;
      if (shared) {
        try {
          return await shared;
        } catch {
          // The other caller's probe failed (its refresh may have been given up): make our own.
        }
      }
      const own = (async () => {
        const response = await send(oauth.DPoP(client, keyPair));
        // The body is of no use; not awaited (a stream's cancel may settle late).
        void response.body?.cancel().catch(() => undefined);
        if (response.headers.get('dpop-nonce')) state.learn(response, false);
        else usesNonces = false;
      })();
      probing = own;
      try {
        await own;
      } finally {
        if (probing === own) probing = null;
      }
    },
    learn(response, accepted) {
      let value: string | null = null;
      try {
        value = response.headers.get('dpop-nonce');
      } catch {
        // Headers of an opaque response: nothing to learn.
      }
      if (value) {
        nonce = { value, at: now() };
        usesNonces = true;
      } else if (accepted && nonce) {
        // The server took our nonce and gave no newer one: it is still current.
        nonce = { value: nonce.value, at: now() };
      }
    },
  };
  return state;
}
