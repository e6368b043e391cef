/**
 * Tokens sealed into a cookie value: AES-256-GCM with a key derived (HKDF-SHA-256) from
 * the app's secret, through WebCrypto only, so it runs in Node and in edge runtimes.
 * Several secrets may be given to rotate them: the first seals, every one unseals.
 */
import { InvalidOptionsError } from '../core/errors.js';
import type { TokenSet } from '../core/ports.js';
import { fromBase64Url, toBase64Url } from './cookies.js';

const PREFIX = 'v1.';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Sealed tokens, and when they were sealed (epoch ms), which gives the access token's lifetime. */
export interface SealedTokens extends TokenSet {
  sealedAt?: number;
}

export interface Sealer {
  seal(tokens: TokenSet, sealedAt?: number): Promise<string>;
  /** The tokens, or null for a value that is not ours (tampered, an old secret dropped, garbage). */
  unseal(value: string): Promise<SealedTokens | null>;
  /** A keyed hash (HMAC-SHA-256, base64url) of `text`: rotation-cache keys that reveal nothing without the secret. */
  keyOf(text: string): Promise<string>;
}

interface Keys {
  aes: CryptoKey;
  mac: CryptoKey;
}

async function derive(secret: string): Promise<Keys> {
  const subtle = globalThis.crypto.subtle;
  const material = await subtle.importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveKey']);
  const params = (info: string) => ({ name: 'HKDF', hash: 'SHA-256', salt: encoder.encode('authchart.token-cookie'), info: encoder.encode(info) });
  const aes = await subtle.deriveKey(params('aes-256-gcm'), material, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const mac = await subtle.deriveKey(params('rotation-key'), material, { name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign']);
  return { aes, mac };
}

/** The associated data binds a sealed value to its purpose: a value sealed for something else does not open. */
const AAD = encoder.encode('authchart.tokens');

/**
 * Check the secrets (at least 32 characters each) and derive their keys once.
 * @example
 * const sealer = createSealer([process.env.AUTH_SECRET!, process.env.AUTH_SECRET_PREVIOUS!])
 */
export function createSealer(secret: string | readonly string[]): Sealer {
  const secrets = typeof secret === 'string' ? [secret] : [...(secret ?? [])];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s.length < 32)) {
    throw new InvalidOptionsError('`secret` must be a string of at least 32 characters (or a list of them, newest first), e.g. `openssl rand -base64 32`.');
  }
  let keys: Promise<Keys[]> | null = null;
  const allKeys = () => (keys ??= Promise.all(secrets.map(derive)));

  return {
    async seal(tokens, sealedAt) {
      const [current] = await allKeys();
      const payload: { a: string; r?: string; e?: number; s?: number; t?: string } = { a: tokens.accessToken };
      if (tokens.refreshToken !== undefined) payload.r = tokens.refreshToken;
      if (tokens.expiresAt !== undefined) payload.e = tokens.expiresAt;
      if (sealedAt !== undefined) payload.s = sealedAt;
      if (tokens.tokenType !== undefined) payload.t = tokens.tokenType;
      const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
      const sealed = new Uint8Array(
        await globalThis.crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: AAD }, current!.aes, encoder.encode(JSON.stringify(payload))),
      );
      const out = new Uint8Array(iv.byteLength + sealed.byteLength);
      out.set(iv);
      out.set(sealed, iv.byteLength);
      return PREFIX + toBase64Url(out);
    },
    async unseal(value) {
      if (typeof value !== 'string' || !value.startsWith(PREFIX)) return null;
      const bytes = fromBase64Url(value.slice(PREFIX.length));
      if (!bytes || bytes.byteLength < 12 + 16) return null;
      const iv = bytes.slice(0, 12);
      const data = bytes.slice(12);
      for (const key of await allKeys()) {
        try {
          const plain = await globalThis.crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: AAD }, key.aes, data);
          const payload = JSON.parse(decoder.decode(plain)) as { a?: unknown; r?: unknown; e?: unknown; s?: unknown; t?: unknown };
          if (typeof payload.a !== 'string' || payload.a === '') return null;
          const tokens: SealedTokens = { accessToken: payload.a };
          if (typeof payload.r === 'string') tokens.refreshToken = payload.r;
          if (typeof payload.e === 'number' && Number.isFinite(payload.e)) tokens.expiresAt = payload.e;
          if (typeof payload.s === 'number' && Number.isFinite(payload.s)) tokens.sealedAt = payload.s;
          if (typeof payload.t === 'string' && payload.t !== '') tokens.tokenType = payload.t;
          return tokens;
        } catch {
          // Not this key: try the next one.
        }
      }
      return null;
    },
    async keyOf(text) {
      const [current] = await allKeys();
      const signature = await globalThis.crypto.subtle.sign('HMAC', current!.mac, encoder.encode(text));
      return toBase64Url(new Uint8Array(signature)).slice(0, 43);
    },
  };
}
