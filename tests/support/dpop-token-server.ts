/**
 * A rotating, DPoP-binding token endpoint for msw (RFC 9449): every refresh token is bound to
 * the key of the proof it was issued with, rotates on every use, and presenting a rotated one
 * again revokes the family. The server requires nonces and hands its current one out in every
 * answer (§8.2 allows any answer to carry it), and can check the proof before or after it
 * consumes the refresh token:
 * - `proof-first`: a proof without the current nonce is refused with `use_dpop_nonce`
 *   before the refresh token is looked at (RFC 9449's intent; oidc-provider, atproto today);
 * - `consume-first`: the refresh token is consumed first, then the nonce is checked (the
 *   sequence of atproto #3859): a refresh token presented with a stale nonce is spent.
 */
import { http, HttpResponse } from 'msw';
import { checkProof } from './dpop-proof.js';

export interface DPoPTokenServerOptions {
  tokenEndpoint: string;
  order: 'proof-first' | 'consume-first';
  /** @default true */
  requireNonce?: boolean;
  /** @default 300 */
  accessTokenTtlSeconds?: number;
}

export interface DPoPTokenCall {
  refreshToken: string | null;
  nonce: string | undefined;
  status: number;
  outcome: 'rotated' | 'use_dpop_nonce' | 'invalid_dpop_proof' | 'reuse-detected' | 'unknown-token' | 'wrong-key' | 'revoked';
}

interface Family {
  current: string;
  jkt: string;
  revoked: boolean;
  used: Set<string>;
}

let counter = 0;
const token = (prefix: string) => `${prefix}_${++counter}_${crypto.randomUUID()}`;

export function dpopTokenServer(options: DPoPTokenServerOptions) {
  const requireNonce = options.requireNonce ?? true;
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let nonce = token('nonce');
  const calls: DPoPTokenCall[] = [];
  const stats = { reuseDetected: 0, rotated: 0, nonceRefusals: 0 };
  /** Refusals after which the nonce moves on again at once (the client's retry is stale too). */
  let moveAfterRefusal = 0;
  const refuseNonce = (done: (status: number, outcome: DPoPTokenCall['outcome'], body: object) => Response) => {
    stats.nonceRefusals++;
    const response = done(400, 'use_dpop_nonce', { error: 'use_dpop_nonce' });
    if (moveAfterRefusal > 0) {
      moveAfterRefusal--;
      nonce = token('nonce');
    }
    return response;
  };

  const answer = (status: number, body: object) => HttpResponse.json(body, { status, headers: requireNonce ? { 'dpop-nonce': nonce } : {} });

  const handler = http.post(options.tokenEndpoint, async ({ request }) => {
    const form = new URLSearchParams(await request.text());
    const presented = form.get('refresh_token');
    const call: DPoPTokenCall = { refreshToken: presented, nonce: undefined, status: 0, outcome: 'unknown-token' };
    calls.push(call);
    const done = (status: number, outcome: DPoPTokenCall['outcome'], body: object) => {
      call.status = status;
      call.outcome = outcome;
      return answer(status, body);
    };
    const proof = await checkProof(request.headers.get('dpop'), {
      htm: 'POST',
      htu: options.tokenEndpoint,
      seen,
      ...(requireNonce ? { nonce } : {}),
    });
    call.nonce = proof.ok ? proof.nonce : undefined;
    if (!proof.ok && proof.error === 'invalid_dpop_proof')
      return done(400, 'invalid_dpop_proof', { error: 'invalid_dpop_proof', error_description: proof.reason });
    const nonceRefused = !proof.ok;
    if (nonceRefused && options.order === 'proof-first') return refuseNonce(done);

    const family = presented ? families.get(presented) : undefined;
    if (!family) return done(400, 'unknown-token', { error: 'invalid_grant' });
    if (family.revoked) return done(400, 'revoked', { error: 'invalid_grant' });
    if (family.used.has(presented!)) {
      family.revoked = true;
      stats.reuseDetected++;
      return done(400, 'reuse-detected', { error: 'invalid_grant', error_description: 'refresh token already used' });
    }
    if (proof.ok && proof.jkt !== family.jkt)
      return done(400, 'wrong-key', { error: 'invalid_grant', error_description: 'refresh token bound to another key' });
    // consume-first: the refresh token is spent before the proof's nonce is looked at.
    family.used.add(presented!);
    if (nonceRefused) return refuseNonce(done);
    family.current = token('rt');
    families.set(family.current, family);
    stats.rotated++;
    return done(200, 'rotated', {
      access_token: token('at'),
      token_type: 'DPoP',
      expires_in: options.accessTokenTtlSeconds ?? 300,
      refresh_token: family.current,
    });
  });

  return {
    handler,
    calls,
    stats,
    /** A family bound to this key thumbprint: the refresh token of a sign-in. */
    signIn(jkt: string): { accessToken: string; refreshToken: string } {
      const refreshToken = token('rt');
      families.set(refreshToken, { current: refreshToken, jkt, revoked: false, used: new Set() });
      return { accessToken: token('at'), refreshToken };
    },
    /** The server's nonce moves on: a nonce a client holds is stale now. */
    rotateNonce() {
      nonce = token('nonce');
    },
    /** After each of the next `count` nonce refusals, the nonce moves on again (the retry is refused too). */
    moveNonceAfterRefusals(count: number) {
      moveAfterRefusal = count;
    },
    isAlive(refreshToken: string) {
      const family = families.get(refreshToken);
      return Boolean(family && !family.revoked && family.current === refreshToken);
    },
  };
}
