/**
 * DPoP proofs for resource requests (RFC 9449 §4 and §7), loaded only by sessions that use
 * DPoP. Written on Web Crypto alone rather than on oauth4webapi: its public API for resource
 * requests is `protectedResourceRequest`, which makes the request itself (plain-object
 * headers, manual redirects, no `Request` objects) where the front ends must send the app's
 * request as the app made it; and signing only what is needed keeps this chunk small. Token
 * calls keep oauth4webapi's `DPoP()` (adapters/oauth/dpop.ts).
 */
import { DPoPUnavailableError } from '../core/errors.js';
import type { ProofHeaders, RequestProofs } from '../core/dpop-requests.js';
import type { DPoPKeyStore } from '../core/ports.js';
import type { Credential } from '../core/waiters.js';

/** Origins whose nonce is remembered; the oldest is forgotten past this (as oauth4webapi's handle does). */
const MAX_NONCES = 100;

/** JWS algorithm and Web Crypto signing parameters of each ECDSA curve (RFC 7518 §3.4). */
const CURVES: Record<string, { alg: string; hash: string }> = {
  'P-256': { alg: 'ES256', hash: 'SHA-256' },
  'P-384': { alg: 'ES384', hash: 'SHA-384' },
  'P-521': { alg: 'ES512', hash: 'SHA-512' },
};

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const encodeJson = (value: object) => base64url(encoder.encode(JSON.stringify(value)));

/** The signing parameters and encoded JWS header of one key pair, made once. */
interface Signer {
  header: string;
  params: EcdsaParams;
  privateKey: CryptoKey;
}

const signers = new WeakMap<CryptoKeyPair, Promise<Signer>>();

function signerOf(pair: CryptoKeyPair): Promise<Signer> {
  let signer = signers.get(pair);
  if (!signer) {
    signer = (async () => {
      const algorithm = pair.privateKey.algorithm as Partial<EcKeyAlgorithm>;
      const curve = algorithm.name === 'ECDSA' ? CURVES[algorithm.namedCurve ?? ''] : undefined;
      if (!curve) {
        throw new DPoPUnavailableError(
          `The DPoP key pair is ${algorithm.name ?? 'of an unknown kind'}${algorithm.namedCurve ? ` ${algorithm.namedCurve}` : ''}: request proofs are signed with ECDSA keys (P-256, P-384, P-521), as generateDPoPKeyPair() makes.`,
        );
      }
      const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
      return {
        header: encodeJson({ typ: 'dpop+jwt', alg: curve.alg, jwk: { kty, crv, x, y } }),
        params: { name: 'ECDSA', hash: curve.hash },
        privateKey: pair.privateKey,
      };
    })();
    signers.set(pair, signer);
    signer.catch(() => signers.delete(pair));
  }
  return signer;
}

/** `htu`: the request's URL without its query and fragment (RFC 9449 §4.2). */
function targetUri(url: string): { htu: string; origin: string } {
  const parsed = new URL(url);
  return { htu: `${parsed.origin}${parsed.pathname}`, origin: parsed.origin };
}

/**
 * Whether a `WWW-Authenticate` value holds a `DPoP` challenge whose `error` is
 * `use_dpop_nonce` (RFC 9449 §9). Challenges are separated by commas like their parameters
 * (RFC 9110 §11.6.1): a token not followed by `=` starts a new challenge.
 */
export function asksForNonce(value: string | null | undefined): boolean {
  if (!value) return false;
  const item = /\s*,?\s*([^\s=,]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*))?/g;
  let scheme = '';
  for (let match = item.exec(value); match && match[0] !== ''; match = item.exec(value)) {
    const [, name, raw] = match;
    if (raw === undefined) {
      scheme = name!.toLowerCase();
      continue;
    }
    if (scheme !== 'dpop' || name!.toLowerCase() !== 'error') continue;
    const text = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    if (text === 'use_dpop_nonce') return true;
  }
  return false;
}

/**
 * The proofs of one session's requests: the session's key pair (read again from the key
 * store whenever the access token changes, so a rotated key is picked up with the tokens
 * bound to it, and never before), and the nonce each origin gave last.
 */
export function createRequestProofs(keys: DPoPKeyStore): RequestProofs {
  const nonces = new Map<string, string>();
  let key: { accessToken: string; pair: Promise<CryptoKeyPair> } | undefined;
  let hash: { accessToken: string; ath: Promise<string> } | undefined;

  const keyPairFor = (accessToken: string) => {
    if (key?.accessToken !== accessToken) {
      const pair = Promise.resolve()
        .then(() => keys.getOrCreate())
        .catch((cause: unknown) => {
          if (key?.pair === pair) key = undefined;
          throw cause;
        });
      key = { accessToken, pair };
    }
    return key.pair;
  };
  const athOf = (accessToken: string) => {
    if (hash?.accessToken !== accessToken) {
      hash = { accessToken, ath: crypto.subtle.digest('SHA-256', encoder.encode(accessToken)).then((digest) => base64url(new Uint8Array(digest))) };
    }
    return hash.ath;
  };

  return {
    async sign(headers: ProofHeaders, method: string, url: string, credential: Credential) {
      const { htu, origin } = targetUri(url);
      let proof: string;
      try {
        const [signer, ath] = await Promise.all([keyPairFor(credential.accessToken).then(signerOf), athOf(credential.accessToken)]);
        const payload: Record<string, unknown> = {
          jti: base64url(crypto.getRandomValues(new Uint8Array(16))),
          htm: method,
          htu,
          iat: Math.floor(Date.now() / 1000),
          ath,
        };
        const nonce = nonces.get(origin);
        if (nonce !== undefined) payload.nonce = nonce;
        const input = `${signer.header}.${encodeJson(payload)}`;
        const signature = await crypto.subtle.sign(signer.params, signer.privateKey, encoder.encode(input));
        proof = `${input}.${base64url(new Uint8Array(signature))}`;
      } catch (cause) {
        if (cause instanceof DPoPUnavailableError) throw cause;
        throw new DPoPUnavailableError(
          'No DPoP proof could be made for the request (the DPoP key store failed, or Web Crypto is not available here); it was not sent.',
          { cause },
        );
      }
      headers.set('dpop', proof);
    },
    answered(url, status, header) {
      const nonce = header('dpop-nonce');
      if (!nonce) return false;
      let origin: string;
      try {
        origin = new URL(url).origin;
      } catch {
        return false;
      }
      const known = nonces.get(origin);
      if (known !== nonce) {
        nonces.delete(origin);
        if (nonces.size >= MAX_NONCES) nonces.delete(nonces.keys().next().value!);
        nonces.set(origin, nonce);
      }
      return status === 401 && asksForNonce(header('www-authenticate'));
    },
  };
}
