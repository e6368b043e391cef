/**
 * The parts of DPoP for requests that need no server: reading a `use_dpop_nonce` challenge
 * out of `WWW-Authenticate`, the proof's claims, and the token type a token set records.
 * (Proofs against real resource servers: tests/e2e/dpop-requests.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { createSession, memoryDPoPKeys, memoryStore, type DPoPKeyStore } from '../../adapters/index.js';
import { asksForNonce, createRequestProofs } from '../../adapters/dpop/request-proofs.js';
import { pickTokens, validateRecord } from '../../adapters/core/record.js';
import { accessTokenHash, checkProof, keyThumbprint } from '../support/dpop-proof.js';

describe('asksForNonce: a DPoP challenge with error="use_dpop_nonce" (RFC 9449 §9, RFC 9110 §11.6.1)', () => {
  it.each([
    ['DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"', true],
    ['DPoP error=use_dpop_nonce', true],
    ['dpop ERROR="use_dpop_nonce"', true],
    ['DPoP algs="ES256 PS256", error="use_dpop_nonce"', true],
    ['Bearer realm="api", DPoP algs="ES256", error="use_dpop_nonce"', true],
    ['Bearer realm="api", error="invalid_token", DPoP error="use_dpop_nonce"', true],
    ['Basic dXNlcjpwYXNz==, DPoP error="use_dpop_nonce"', true],
  ])('%s → yes', (header, expected) => {
    expect(asksForNonce(header)).toBe(expected);
  });

  it.each([
    ['Bearer error="use_dpop_nonce"'],
    ['DPoP error="invalid_token"'],
    ['DPoP error="invalid_dpop_proof", error_description="use_dpop_nonce is not the problem"'],
    ['DPoP realm="use_dpop_nonce"'],
    ['DPoP error="use_dpop_nonce_x"'],
    [''],
  ])('%s → no', (header) => {
    expect(asksForNonce(header)).toBe(false);
  });

  it('is not fooled by a quoted comma, and never loops on odd input', () => {
    expect(asksForNonce('Bearer realm="a, DPoP error=use_dpop_nonce"')).toBe(false);
    expect(asksForNonce('==, , ,DPoP ,error="use_dpop_nonce"')).toBe(true);
    expect(asksForNonce('"unterminated')).toBe(false);
  });
});

describe('createRequestProofs', () => {
  it('signs htm and htu without query or fragment, ath of the token, a fresh jti, and the origin’s nonce once learned', async () => {
    const keys = memoryDPoPKeys();
    const proofs = createRequestProofs(keys);
    const credential = { accessToken: 'at-1', tokenVersion: 1 };
    const headers = new Headers();
    await proofs.sign(headers, 'PUT', 'https://api.example.com/items/7?sort=asc#top', credential);
    const seen = new Set<string>();
    const check = { htm: 'PUT', htu: 'https://api.example.com/items/7', accessToken: 'at-1', seen };
    const first = await checkProof(headers.get('dpop'), check);
    expect(first).toMatchObject({ ok: true, jkt: await keyThumbprint(await keys.getOrCreate()) });
    expect(first).not.toHaveProperty('nonce');
    // The same proof twice is a replay.
    expect(await checkProof(headers.get('dpop'), check)).toMatchObject({ ok: false, reason: 'jti replayed' });
    // A nonce learned from one origin goes to that origin only.
    expect(proofs.answered('https://api.example.com/x', 200, (name) => (name === 'dpop-nonce' ? 'n-1' : null))).toBe(false);
    await proofs.sign(headers, 'GET', 'https://api.example.com/other', credential);
    expect(await checkProof(headers.get('dpop'), { ...check, htm: 'GET', htu: 'https://api.example.com/other', nonce: 'n-1' })).toMatchObject({
      ok: true,
      nonce: 'n-1',
    });
    await proofs.sign(headers, 'GET', 'https://files.example.com/f', credential);
    expect(await checkProof(headers.get('dpop'), { ...check, htm: 'GET', htu: 'https://files.example.com/f' })).toMatchObject({ ok: true });
    const payload = JSON.parse(Buffer.from(headers.get('dpop')!.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(payload.nonce).toBeUndefined();
    expect(payload.ath).toBe(await accessTokenHash('at-1'));
  });

  it('a 401 with a DPoP nonce challenge and a new nonce is a challenge; without the nonce header it is not', () => {
    const proofs = createRequestProofs(memoryDPoPKeys());
    const headersOf = (values: Record<string, string>) => (name: string) => values[name] ?? null;
    expect(proofs.answered('https://a.example/x', 401, headersOf({ 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'n' }))).toBe(true);
    expect(proofs.answered('https://a.example/x', 401, headersOf({ 'www-authenticate': 'DPoP error="use_dpop_nonce"' }))).toBe(false);
    expect(proofs.answered('https://a.example/x', 400, headersOf({ 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'n' }))).toBe(false);
    expect(proofs.answered('https://a.example/x', 401, headersOf({ 'www-authenticate': 'DPoP error="invalid_token"', 'dpop-nonce': 'n' }))).toBe(false);
  });

  it('reads the key pair again when the access token changes (a key rotated at sign-in comes with its tokens)', async () => {
    const keys = memoryDPoPKeys();
    const proofs = createRequestProofs(keys);
    const first = await keys.rotate();
    const headers = new Headers();
    const jktOf = async () =>
      (await checkProof(headers.get('dpop'), { htm: 'GET', htu: 'https://a.example/x', seen: new Set(), accessToken: headers.get('x-token')! })) as {
        jkt: string;
      };
    headers.set('x-token', 'old');
    await proofs.sign(headers, 'GET', 'https://a.example/x', { accessToken: 'old', tokenVersion: 1 });
    expect((await jktOf()).jkt).toBe(await keyThumbprint(first));
    const second = await keys.rotate();
    // Same token: still the key it is bound to.
    await proofs.sign(headers, 'GET', 'https://a.example/x', { accessToken: 'old', tokenVersion: 1 });
    expect((await jktOf()).jkt).toBe(await keyThumbprint(first));
    headers.set('x-token', 'new');
    await proofs.sign(headers, 'GET', 'https://a.example/x', { accessToken: 'new', tokenVersion: 2 });
    expect((await jktOf()).jkt).toBe(await keyThumbprint(second));
  });
});

describe('request proofs and key types', () => {
  const storeOf = (pair: CryptoKeyPair): DPoPKeyStore => ({ getOrCreate: async () => pair, rotate: async () => pair, clear: async () => undefined });

  it('signs with a P-384 key as ES384 (verified with its public key)', async () => {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign', 'verify']);
    const headers = new Headers();
    await createRequestProofs(storeOf(pair)).sign(headers, 'GET', 'https://a.example/x', { accessToken: 't', tokenVersion: 1 });
    const [header, payload, signature] = headers.get('dpop')!.split('.') as [string, string, string];
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toMatchObject({ typ: 'dpop+jwt', alg: 'ES384', jwk: { kty: 'EC', crv: 'P-384' } });
    const valid = await crypto.subtle.verify(
      { name: 'ECDSA', hash: 'SHA-384' },
      pair.publicKey,
      Buffer.from(signature, 'base64url'),
      new TextEncoder().encode(`${header}.${payload}`),
    );
    expect(valid).toBe(true);
  });

  it('refuses a key it cannot sign proofs with (RSA): DPOP_UNAVAILABLE, nothing set', async () => {
    const pair = await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
    const headers = new Headers();
    await expect(createRequestProofs(storeOf(pair)).sign(headers, 'GET', 'https://a.example/x', { accessToken: 't', tokenVersion: 1 })).rejects.toMatchObject({
      code: 'DPOP_UNAVAILABLE',
    });
    expect(headers.has('dpop')).toBe(false);
  });
});

describe('a token set records its type', () => {
  it('stores DPoP or Bearer whatever the case given, and reads anything else as corrupt', () => {
    expect(pickTokens({ accessToken: 'a', tokenType: 'dpop' })).toEqual({ accessToken: 'a', tokenType: 'DPoP' });
    expect(pickTokens({ accessToken: 'a', tokenType: 'BEARER' })).toEqual({ accessToken: 'a', tokenType: 'Bearer' });
    expect(validateRecord({ format: 1, version: 1, accessToken: 'a', tokenType: 'DPoP' })).toEqual({ accessToken: 'a', version: 1, tokenType: 'DPoP' });
    expect(validateRecord({ format: 1, version: 1, accessToken: 'a', tokenType: 'mac' })).toBeNull();
  });

  it('login() refuses a type it cannot send; updateTokens() without a type keeps the one held', async () => {
    const store = memoryStore();
    const session = createSession({ refresh: () => Promise.reject(new Error('unused')), store, dpop: memoryDPoPKeys(), wake: false });
    try {
      await expect(session.login({ accessToken: 'a', tokenType: 'mac' })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
      await session.login({ accessToken: 'a', refreshToken: 'r', tokenType: 'Bearer' });
      await session.updateTokens({ accessToken: 'b' });
      expect(await store.get()).toMatchObject({ accessToken: 'b', refreshToken: 'r', tokenType: 'Bearer' });
    } finally {
      await session.dispose();
    }
    expect(() => createSession({ refresh: () => Promise.reject(new Error('unused')), tokens: { accessToken: 'a', tokenType: 'mac' } })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS' }),
    );
  });
});
