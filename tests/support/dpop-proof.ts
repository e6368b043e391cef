/**
 * A DPoP proof checker (RFC 9449 §4.3) for the test servers, written on Web Crypto alone so
 * that it shares no code with the client under test (oauth4webapi): the signature is checked
 * with the public JWK of the proof's own header, then `typ`, `alg`, `htm`, `htu`, `iat`,
 * `jti` (replay), `nonce` and `ath`. It returns the key's RFC 7638 thumbprint (`jkt`), which a
 * token is bound to.
 */

export interface ProofCheck {
  /** The HTTP method and URL the request was made with. */
  htm: string;
  htu: string;
  /** For a resource request: the access token it carries (checked against `ath`). */
  accessToken?: string;
  /** `jti`s already seen: a proof used twice is refused. */
  seen: Set<string>;
  /** The nonce the server requires now; undefined: none required. */
  nonce?: string;
  /** How far `iat` may be from now. @default 60 */
  maxSkewSeconds?: number;
}

export type ProofResult =
  | { ok: true; jkt: string; jti: string; nonce?: string }
  | { ok: false; error: 'invalid_dpop_proof' | 'use_dpop_nonce'; reason: string };

const decoder = new TextDecoder();

export function base64url(bytes: ArrayBuffer | Uint8Array): string {
  return Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('base64url');
}

function json(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(decoder.decode(Buffer.from(part, 'base64url')));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** RFC 7638 thumbprint of an EC P-256 public JWK (the only kind these tests use). */
export async function jwkThumbprint(jwk: { kty?: unknown; crv?: unknown; x?: unknown; y?: unknown }): Promise<string> {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical)));
}

/** The thumbprint of a key pair's public key, as a server computes it from a proof. */
export async function keyThumbprint(keyPair: CryptoKeyPair): Promise<string> {
  return jwkThumbprint(await crypto.subtle.exportKey('jwk', keyPair.publicKey));
}

/** `ath`: base64url SHA-256 of the access token. */
export async function accessTokenHash(accessToken: string): Promise<string> {
  return base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken)));
}

/** Check one `DPoP` header value. */
export async function checkProof(proof: string | null | undefined, check: ProofCheck): Promise<ProofResult> {
  const refuse = (reason: string): ProofResult => ({ ok: false, error: 'invalid_dpop_proof', reason });
  if (!proof) return refuse('no DPoP proof');
  const parts = proof.split('.');
  if (parts.length !== 3) return refuse('not a JWS');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = json(headerPart);
  const payload = json(payloadPart);
  if (!header || !payload) return refuse('unreadable header or payload');
  if (header.typ !== 'dpop+jwt') return refuse('typ is not dpop+jwt');
  if (header.alg !== 'ES256') return refuse('alg is not ES256');
  const jwk = header.jwk as { kty?: unknown; crv?: unknown; x?: unknown; y?: unknown; d?: unknown } | undefined;
  if (jwk?.kty !== 'EC' || jwk.crv !== 'P-256' || jwk.d !== undefined) return refuse('jwk is not a public P-256 key');
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey(
      'jwk',
      { kty: 'EC', crv: 'P-256', x: jwk.x as string, y: jwk.y as string },
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['verify'],
    );
  } catch {
    return refuse('jwk does not import');
  }
  const signed = new TextEncoder().encode(`${headerPart}.${payloadPart}`);
  const valid = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, Buffer.from(signaturePart, 'base64url'), signed);
  if (!valid) return refuse('signature does not verify with the header jwk');
  if (payload.htm !== check.htm) return refuse('htm mismatch');
  if (payload.htu !== check.htu) return refuse('htu mismatch');
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > (check.maxSkewSeconds ?? 60)) return refuse('iat is not recent');
  if (typeof payload.jti !== 'string' || payload.jti.length < 16) return refuse('no jti');
  if (check.seen.has(payload.jti)) return refuse('jti replayed');
  if (check.accessToken !== undefined) {
    if (payload.ath !== (await accessTokenHash(check.accessToken))) return refuse('ath mismatch');
  } else if (payload.ath !== undefined) {
    return refuse('ath on a request without an access token');
  }
  if (check.nonce !== undefined && payload.nonce !== check.nonce) {
    return { ok: false, error: 'use_dpop_nonce', reason: payload.nonce === undefined ? 'nonce required' : 'stale nonce' };
  }
  check.seen.add(payload.jti);
  return { ok: true, jkt: await jwkThumbprint(jwk), jti: payload.jti, ...(typeof payload.nonce === 'string' ? { nonce: payload.nonce } : {}) };
}
