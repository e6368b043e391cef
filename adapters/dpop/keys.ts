import type { DPoPKeyStore } from '../core/ports.js';

/**
 * A new DPoP key pair: ECDSA P-256 (`ES256`, the algorithm every DPoP server accepts, and the
 * one AT Protocol requires). The private key is not extractable: script can sign with it but
 * never read it, and IndexedDB keeps it that way. The public key is always extractable (it
 * travels in every proof's header).
 * @example
 * const keyPair = await generateDPoPKeyPair()
 */
export async function generateDPoPKeyPair(): Promise<CryptoKeyPair> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('[authchart] Web Crypto (crypto.subtle) is not available here: DPoP needs it (a secure context in browsers, Node 20+).');
  return subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
}

/** Whether `value` looks like a key pair this library made (a store's content is not trusted blindly). */
export function isDPoPKeyPair(value: unknown): value is CryptoKeyPair {
  const pair = value as Partial<CryptoKeyPair> | null;
  const isKey = (key: unknown, type: KeyType) =>
    typeof CryptoKey !== 'undefined' ? key instanceof CryptoKey && key.type === type : (key as { type?: unknown } | undefined)?.type === type;
  return typeof pair === 'object' && pair !== null && isKey(pair.privateKey, 'private') && isKey(pair.publicKey, 'public');
}

/**
 * The session's DPoP key pair in memory: one per process (a server session, a script, one
 * tab without cross-tab sharing). Creation is single flight: concurrent callers get the same
 * pair. For several tabs use `indexedDbDPoPKeys()` from `authchart/cross-tab`; for several
 * server instances the key must live in a store they share.
 * @example
 * createSession({ refresh: oauthRefresher({ tokenEndpoint, clientId }), dpop: memoryDPoPKeys() })
 */
export function memoryDPoPKeys(): DPoPKeyStore {
  let current: Promise<CryptoKeyPair> | null = null;
  const remember = (pending: Promise<CryptoKeyPair>) => {
    current = pending;
    // A failed generation is not remembered: the next call tries again.
    pending.catch(() => {
      if (current === pending) current = null;
    });
    return pending;
  };
  return {
    getOrCreate: () => current ?? remember(generateDPoPKeyPair()),
    rotate: () => remember(generateDPoPKeyPair()),
    async clear() {
      current = null;
    },
  };
}
