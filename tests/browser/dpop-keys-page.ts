/**
 * The page of the DPoP key store suite: `indexedDbDPoPKeys()` in a real browser, driven by
 * the test through `window.dpopKeys`. Keys never leave the page: it answers with their
 * thumbprint and what the browser lets a script do with the private key. The page counts
 * the key pairs it generated (`generated`).
 */
import { indexedDbDPoPKeys } from '../../adapters/cross-tab/dpop-keys.js';

interface KeyFacts {
  /** RFC 7638 thumbprint of the public key. */
  jkt: string;
  privateExtractable: boolean;
  /** Whether exporting the private key succeeded (it must not). */
  privateExported: boolean;
  /** A signature made here, over `data`, base64url (checked by another tab with its public key). */
  signature: string;
}

// Key generation is made slow (as on a weak phone), so that tabs asking at the same moment
// all find the store empty and all make a candidate: the race creation must survive.
const generateKey = crypto.subtle.generateKey.bind(crypto.subtle) as (...args: unknown[]) => Promise<unknown>;
let generated = 0;
(crypto.subtle as { generateKey: unknown }).generateKey = async (...args: unknown[]) => {
  generated++;
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  return generateKey(...args);
};

const keys = indexedDbDPoPKeys({ database: 'authchart-dpop-test' });
const b64u = (bytes: ArrayBuffer) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

async function facts(pair: CryptoKeyPair, data: string): Promise<KeyFacts> {
  const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
  const jkt = b64u(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))));
  const privateExported = await crypto.subtle.exportKey('jwk', pair.privateKey).then(
    () => true,
    () => false,
  );
  const signature = b64u(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, new TextEncoder().encode(data)));
  return { jkt, privateExtractable: pair.privateKey.extractable, privateExported, signature };
}

async function verify(signature: string, data: string): Promise<boolean> {
  const pair = await keys.getOrCreate();
  const bytes = Uint8Array.from(atob(signature.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  return crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, pair.publicKey, bytes, new TextEncoder().encode(data));
}

declare global {
  interface Window {
    dpopKeys: {
      getOrCreate(data: string): Promise<KeyFacts>;
      rotate(data: string): Promise<KeyFacts>;
      clear(): Promise<void>;
      verify(signature: string, data: string): Promise<boolean>;
      /** Key pairs this page generated (candidates included). */
      generated(): number;
    };
  }
}

window.dpopKeys = {
  getOrCreate: async (data) => facts(await keys.getOrCreate(), data),
  rotate: async (data) => facts(await keys.rotate(), data),
  clear: () => keys.clear(),
  verify,
  generated: () => generated,
};
