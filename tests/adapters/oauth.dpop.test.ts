/**
 * DPoP (RFC 9449) on the token calls of `oauthRefresher`, with the session's key store:
 * proofs, nonces, the at-once retry of `use_dpop_nonce`, and the sequence of atproto #3859
 * (a server that consumes the refresh token before it checks the nonce).
 *
 * Time is fake; Web Crypto (signing) runs on a thread pool outside it, so the tests wait for
 * real ticks (bounded) where a proof is being signed, and move the fake clock only on purpose.
 */
import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { createSession, memoryDPoPKeys, memoryStore, type DPoPKeyStore, type LogEntry, type Session } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { NONCE_PROBE_REFRESH_TOKEN } from '../../adapters/oauth/dpop.js';
import { checkProof, keyThumbprint } from '../support/dpop-proof.js';
import { dpopTokenServer } from '../support/dpop-token-server.js';
import { mock, useMockNetwork } from '../support/harness.js';

useMockNetwork();

const TOKEN_ENDPOINT = 'https://auth.authchart.test/oauth/token';
// Captured before the fake clock is installed (useMockNetwork fakes it for every test).
const realSetTimeout = globalThis.setTimeout;
const realNow = performance.now.bind(performance);

/** Wait (in real time, bounded) for work outside the fake clock: proofs being signed. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const started = realNow();
  while (!condition()) {
    if (realNow() - started > 5_000) throw new Error(`[test] ${what} did not happen within 5 s (real time)`);
    await new Promise((resolve) => realSetTimeout(resolve, 2));
    await vi.advanceTimersByTimeAsync(0);
  }
}

async function signedInSession(options: { order: 'proof-first' | 'consume-first'; keys?: DPoPKeyStore; nonceMaxAgeMs?: number; requireNonce?: boolean }) {
  const server = dpopTokenServer({ tokenEndpoint: TOKEN_ENDPOINT, order: options.order, requireNonce: options.requireNonce });
  mock.use(server.handler);
  const keys = options.keys ?? memoryDPoPKeys();
  const keyPair = await keys.getOrCreate();
  const tokens = server.signIn(await keyThumbprint(keyPair));
  const store = memoryStore(tokens);
  const log: LogEntry[] = [];
  const session = createSession({
    refresh: oauthRefresher({
      tokenEndpoint: TOKEN_ENDPOINT,
      clientId: 'spa',
      ...(options.nonceMaxAgeMs ? { dpop: { nonceMaxAgeMs: options.nonceMaxAgeMs } } : {}),
    }),
    store,
    dpop: keys,
    logger: (entry) => log.push(entry),
  });
  return { server, keys, keyPair, tokens, store, session, log };
}

/**
 * Refresh without moving the fake clock: 'ok', the error, or the state the session waits in
 * ('backoff': a failure was counted and the retry waits for time to pass).
 */
async function refreshNow(session: Session): Promise<unknown> {
  let outcome: unknown = 'pending';
  session.refresh().then(
    () => (outcome = 'ok'),
    (error: unknown) => (outcome = error),
  );
  const waiting = () => ['backoff', 'loggedOut'].includes(session.getStatus().state);
  await until(() => outcome !== 'pending' || waiting(), 'the refresh');
  return outcome === 'pending' ? session.getStatus().state : outcome;
}

const presentedRefreshTokens = (server: ReturnType<typeof dpopTokenServer>) =>
  server.calls.map((c) => c.refreshToken).filter((t) => t !== NONCE_PROBE_REFRESH_TOKEN);

describe('DPoP proofs on token calls', () => {
  it('every token call carries a proof signed with the session key; the refresh token stays bound to it and rotates', async () => {
    const { server, session, store } = await signedInSession({ order: 'proof-first' });
    for (let round = 0; round < 3; round++) expect(await refreshNow(session)).toBe('ok');
    expect(server.stats.rotated).toBe(3);
    expect(server.calls.filter((c) => c.outcome === 'wrong-key' || c.outcome === 'invalid_dpop_proof')).toEqual([]);
    // The family is bound to the session key's thumbprint: a proof of any other key is refused.
    const other = await memoryDPoPKeys().getOrCreate();
    const current = (await store.get())!.refreshToken!;
    const stranger = await oauthRefresher({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' })(current, {
      signal: new AbortController().signal,
      dpopKeyPair: other,
    }).catch((e: unknown) => e);
    expect(stranger).toMatchObject({ kind: 'permanent', reason: 'invalid_grant' });
    expect(server.calls.at(-1)!.outcome).toBe('wrong-key');
    expect(server.isAlive(current)).toBe(true);
    expect(session.getStatus()).toMatchObject({ state: 'idle', attempt: 0, lastError: null });
    await session.dispose();
  });

  it('a proof the test server did not make is checked for real: a tampered signature is refused', async () => {
    const keys = memoryDPoPKeys();
    const keyPair = await keys.getOrCreate();
    const seen = new Set<string>();
    // Sign a proof through the refresher, capture it, then flip a byte of its signature.
    let captured: string | null = null;
    mock.use(
      (await import('msw')).http.post(TOKEN_ENDPOINT, ({ request }) => {
        captured = request.headers.get('dpop');
        return new Response(JSON.stringify({ access_token: 'at', token_type: 'DPoP', expires_in: 60 }), { headers: { 'content-type': 'application/json' } });
      }),
    );
    const refresh = oauthRefresher({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' });
    await refresh('rt', { signal: new AbortController().signal, dpopKeyPair: keyPair });
    const proof = captured!;
    expect(await checkProof(proof, { htm: 'POST', htu: TOKEN_ENDPOINT, seen: new Set() })).toMatchObject({ ok: true, jkt: await keyThumbprint(keyPair) });
    const [h, p, s] = proof.split('.') as [string, string, string];
    const bytes = Buffer.from(s, 'base64url');
    bytes[0] = bytes[0]! ^ 0xff;
    expect(await checkProof(`${h}.${p}.${bytes.toString('base64url')}`, { htm: 'POST', htu: TOKEN_ENDPOINT, seen })).toMatchObject({
      ok: false,
      reason: /signature/,
    });
  });

  it('token_type DPoP is accepted with DPoP on, and refused (keeping the rotated refresh token) without it', async () => {
    const keyPair = await memoryDPoPKeys().getOrCreate();
    mock.use(
      (await import('msw')).http.post(TOKEN_ENDPOINT, () =>
        Response.json({ access_token: 'at_dpop', token_type: 'DPoP', expires_in: 60, refresh_token: 'rt_next' }),
      ),
    );
    const refresh = oauthRefresher({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' });
    const withDpop = await refresh('rt', { signal: new AbortController().signal, dpopKeyPair: keyPair });
    expect(withDpop).toMatchObject({ accessToken: 'at_dpop', refreshToken: 'rt_next' });
    const without = await refresh('rt', { signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(without).toMatchObject({ code: 'INVALID_TOKEN_RESPONSE', kind: 'transient' });
    expect((without as Error).message).toMatch(/DPoP is on/);
  });
});

describe('use_dpop_nonce from the token endpoint', () => {
  it('a stale nonce: the refusal is retried at once with the new nonce, and is not a failure', async () => {
    const { server, session, log } = await signedInSession({ order: 'proof-first', nonceMaxAgeMs: 600_000 });
    expect(await refreshNow(session)).toBe('ok');
    server.rotateNonce();
    const failures: unknown[] = [];
    session.on('refreshFailed', (event) => failures.push(event));
    const before = server.calls.length;
    expect(await refreshNow(session)).toBe('ok');
    const second = server.calls.slice(before);
    expect(second.map((c) => c.outcome)).toEqual(['use_dpop_nonce', 'rotated']);
    // Retried at once: no fake time passed, no backoff, no failure counted.
    expect(failures).toEqual([]);
    expect(log.filter((e) => e.type === 'state').map((e) => (e as { to: string }).to)).not.toContain('backoff');
    expect(session.getStatus()).toMatchObject({ state: 'idle', attempt: 0, permanentFailures: 0, lastError: null });
    expect(server.stats.reuseDetected).toBe(0);
    await session.dispose();
  });

  it('a second use_dpop_nonce in a row is a transient failure (backoff), never a permanent one', async () => {
    const { server, session } = await signedInSession({ order: 'proof-first', nonceMaxAgeMs: 600_000 });
    expect(await refreshNow(session)).toBe('ok');
    server.rotateNonce();
    // The nonce moves again right after the first refusal: the retry is refused too.
    server.moveNonceAfterRefusals(1);
    session.refresh().catch(() => undefined);
    await until(() => session.getStatus().state === 'backoff', 'the backoff');
    expect(session.getStatus()).toMatchObject({
      attempt: 1,
      permanentFailures: 0,
      lastError: { kind: 'transient', code: 'REFRESH_FAILED', reason: 'use_dpop_nonce' },
    });
    expect(server.calls.slice(-2).map((c) => c.outcome)).toEqual(['use_dpop_nonce', 'use_dpop_nonce']);
    await vi.advanceTimersByTimeAsync(1_000);
    await until(() => session.getStatus().state === 'idle', 'the retry after backoff');
    expect(server.stats.reuseDetected).toBe(0);
    await session.dispose();
  });
});

describe('atproto #3859: a server that consumes the refresh token before it checks the nonce', () => {
  it('the first refresh (no nonce known yet) fetches a nonce without the refresh token, then presents it once', async () => {
    const { server, session, tokens, store } = await signedInSession({ order: 'consume-first' });
    const outcome = await refreshNow(session);
    // The #3859 sequence would read: ['use_dpop_nonce' (the refresh token consumed), 'reuse-detected'], reuse 1, backoff.
    expect({ outcome, calls: server.calls.map((c) => c.outcome), reuse: server.stats.reuseDetected }).toEqual({
      outcome: 'ok',
      calls: ['unknown-token', 'rotated'],
      reuse: 0,
    });
    expect(server.calls[0]!.refreshToken).toBe(NONCE_PROBE_REFRESH_TOKEN);
    expect(presentedRefreshTokens(server)).toEqual([tokens.refreshToken]);
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.isAlive(tokens.refreshToken)).toBe(false);
    expect(server.isAlive((await store.get())!.refreshToken!)).toBe(true);
    await session.dispose();
  });

  it('a nonce older than nonceMaxAgeMs is refreshed by a probe before the refresh token is presented', async () => {
    const { server, session, store } = await signedInSession({ order: 'consume-first', nonceMaxAgeMs: 60_000 });
    expect(await refreshNow(session)).toBe('ok');
    await vi.advanceTimersByTimeAsync(61_000);
    server.rotateNonce();
    const before = server.calls.length;
    expect(await refreshNow(session)).toBe('ok');
    expect(server.calls.slice(before).map((c) => c.outcome)).toEqual(['unknown-token', 'rotated']);
    const presented = presentedRefreshTokens(server);
    expect(new Set(presented).size).toBe(presented.length);
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.isAlive((await store.get())!.refreshToken!)).toBe(true);
    await session.dispose();
  });

  it('a fresh nonce is used as is: one token call per refresh, no probe', async () => {
    const { server, session } = await signedInSession({ order: 'consume-first' });
    expect(await refreshNow(session)).toBe('ok');
    const before = server.calls.length;
    expect(await refreshNow(session)).toBe('ok');
    expect(server.calls.slice(before).map((c) => c.outcome)).toEqual(['rotated']);
    await session.dispose();
  });
});

describe('one refresher, many sessions (a server)', () => {
  it('sessions share the nonce; when the session whose probe the others waited on gives up, another probes for itself', async () => {
    const server = dpopTokenServer({ tokenEndpoint: TOKEN_ENDPOINT, order: 'consume-first' });
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    let heldProbes = 0;
    const { http } = await import('msw');
    mock.use(
      http.post(TOKEN_ENDPOINT, async ({ request }) => {
        const probe = new URLSearchParams(await request.clone().text()).get('refresh_token') === NONCE_PROBE_REFRESH_TOKEN;
        // The first probe hangs until the test opens the gate (or its caller gives up).
        if (probe && heldProbes++ === 0) await gate;
        return undefined;
      }),
      server.handler,
    );
    const refresh = oauthRefresher({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' });
    const [keysA, keysB] = [memoryDPoPKeys(), memoryDPoPKeys()];
    const [pairA, pairB] = await Promise.all([keysA.getOrCreate(), keysB.getOrCreate()]);
    const a = server.signIn(await keyThumbprint(pairA));
    const b = server.signIn(await keyThumbprint(pairB));
    const abortA = new AbortController();
    const outcomeA = refresh(a.refreshToken, { signal: abortA.signal, dpopKeyPair: pairA }).then(
      () => 'ok',
      (e: unknown) => e,
    );
    let outcomeB: unknown = 'pending';
    void refresh(b.refreshToken, { signal: new AbortController().signal, dpopKeyPair: pairB }).then(
      () => (outcomeB = 'ok'),
      (e: unknown) => (outcomeB = e),
    );
    await until(() => heldProbes === 1, 'the first probe');
    abortA.abort(new DOMException('given up', 'AbortError'));
    expect(((await outcomeA) as Error).name).toBe('AbortError');
    await until(() => outcomeB !== 'pending', "the other session's refresh");
    openGate();
    expect(outcomeB).toBe('ok');
    // B probed for itself, then presented its refresh token once; A's was never presented.
    expect(heldProbes).toBe(2);
    expect(presentedRefreshTokens(server)).toEqual([b.refreshToken]);
    expect(server.stats.reuseDetected).toBe(0);
  });
});

describe('a server that does not use nonces', () => {
  it('answers the first probe without a nonce; no probe is sent again', async () => {
    const { server, session } = await signedInSession({ order: 'proof-first', requireNonce: false });
    for (let round = 0; round < 3; round++) {
      expect(await refreshNow(session)).toBe('ok');
      await vi.advanceTimersByTimeAsync(120_000);
    }
    expect(server.calls.map((c) => c.outcome)).toEqual(['unknown-token', 'rotated', 'rotated', 'rotated']);
    await session.dispose();
  });
});

describe('the session key', () => {
  it('a key store that fails makes the refresh fail transiently, with no token call', async () => {
    const { server, session } = await signedInSession({ order: 'proof-first' });
    const broken: DPoPKeyStore = {
      getOrCreate: () => Promise.reject(new Error('IndexedDB is gone')),
      rotate: () => Promise.reject(new Error('no')),
      clear: async () => undefined,
    };
    const failing = createSession({
      refresh: oauthRefresher({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'spa' }),
      store: memoryStore({ accessToken: 'at', refreshToken: 'rt' }),
      dpop: broken,
    });
    failing.refresh().catch(() => undefined);
    await until(() => failing.getStatus().state === 'backoff', 'the backoff');
    expect(failing.getStatus().lastError).toEqual({ kind: 'transient', code: 'REFRESH_FAILED', reason: 'DPOP_KEY_UNAVAILABLE' });
    expect(server.calls).toEqual([]);
    await failing.dispose();
    await session.dispose();
  });

  it('logout forgets the key: the next sign-in starts with a new one', async () => {
    const { session, keys, keyPair } = await signedInSession({ order: 'proof-first' });
    await session.logout();
    const next = await keys.getOrCreate();
    expect(next).not.toBe(keyPair);
    expect(await keyThumbprint(next)).not.toBe(await keyThumbprint(keyPair));
    await session.dispose();
  });

  it('no key, proof or token reaches the logs, the errors or util.inspect of them', async () => {
    const { server, session, log } = await signedInSession({ order: 'consume-first', nonceMaxAgeMs: 600_000 });
    const errors: unknown[] = [];
    session.on('refreshFailed', (event) => errors.push(event.error));
    expect(await refreshNow(session)).toBe('ok');
    const text = [JSON.stringify(log), ...errors.map((e) => inspect(e, { depth: 8 })), inspect(session.getStatus(), { depth: 8 })].join('\n');
    for (const call of server.calls) if (call.refreshToken) expect(text).not.toContain(call.refreshToken);
    expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/);
    await session.dispose();
  });
});
