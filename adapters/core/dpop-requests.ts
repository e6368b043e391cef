/**
 * DPoP for requests (RFC 9449 §7), as the front ends reach it: whether a request carries a
 * proof, and the proofs themselves, whose code (signing, nonces) is loaded the first time a
 * DPoP-bound token is sent. A session without a DPoP key store never loads it, and an app
 * bundler puts it in a chunk of its own.
 */
import { DPoPUnavailableError } from './errors.js';
import type { DPoPKeyStore } from './ports.js';
import type { Credential } from './waiters.js';

/** What a front end needs of headers to put a proof on them (fetch's `Headers`, axios's `AxiosHeaders`). */
export interface ProofHeaders {
  set(name: string, value: string): unknown;
}

/** The proofs of one session's requests: its key, and the nonces of the origins it talks to. */
export interface RequestProofs {
  /**
   * Set the request's `DPoP` header: a proof for `method` and `url` (its query and fragment
   * left out), with `ath` (the access token's hash) and the origin's nonce when one is known.
   * Rejects with `DPOP_UNAVAILABLE` when no proof can be made.
   */
  sign(headers: ProofHeaders, method: string, url: string, credential: Credential): Promise<void>;
  /**
   * An answer came from `url`: remember its `DPoP-Nonce` for that origin (any status), and
   * say whether it is a `use_dpop_nonce` challenge (401 with `WWW-Authenticate: DPoP
   * error="use_dpop_nonce"` and a new nonce): then the request is sent once more, as it was,
   * with a new proof.
   */
  answered(url: string, status: number, header: (name: string) => string | null | undefined): boolean;
}

export interface DPoPRequests {
  /** Whether a request sent with this credential carries a proof (`Authorization: DPoP`). */
  uses(credential: Credential): boolean;
  /** The proofs, loading their code the first time. */
  load(): Promise<RequestProofs>;
  /** The proofs, once loaded (a request that carried a proof has loaded them). */
  readonly loaded: RequestProofs | undefined;
}

type ProofsModule = typeof import('../dpop/request-proofs.js');
let proofsModule: Promise<ProofsModule> | undefined;

/**
 * The DPoP side of a session's requests. A token is sent with a proof unless its token set
 * says it is a Bearer token (a server without DPoP support answered Bearer).
 */
export function dpopRequests(keys: DPoPKeyStore): DPoPRequests {
  let pending: Promise<RequestProofs> | undefined;
  const requests: DPoPRequests = {
    uses: (credential) => credential.tokenType !== 'Bearer',
    loaded: undefined,
    load() {
      if (pending !== undefined) return pending;
      proofsModule ??= import('../dpop/request-proofs.js');
      pending = proofsModule.then(
        (module) => {
          const proofs = module.createRequestProofs(keys);
          (requests as { loaded?: RequestProofs }).loaded = proofs;
          return proofs;
        },
        (cause: unknown) => {
          // A chunk that failed to load (a deploy replaced it, the network dropped) is tried again next time.
          proofsModule = undefined;
          pending = undefined;
          throw new DPoPUnavailableError('The DPoP code could not be loaded, so no proof was made and the request was not sent; try again.', { cause });
        },
      );
      return pending;
    },
  };
  return requests;
}
