/**
 * The real system a model path runs against: `createAuthFetch` (the machine inside the
 * session), the rotating token server behind msw, a token store another "tab" can write,
 * and a refresh lock the test opens when a step says how the refresh ends. The session uses
 * DPoP, and a DPoP front before the token server issues nonces. Time is vitest's fake clock.
 * Everything the outside world saw is recorded here for the step checks.
 */
import { http, HttpResponse } from 'msw';
import * as oauth from 'oauth4webapi';
import { vi } from 'vitest';
import { createAuthFetch, type AuthFetch } from '../../adapters/fetch/index.js';
import {
  generateDPoPKeyPair,
  memoryStore,
  type DPoPKeyStore,
  type LockHandle,
  type RefreshLock,
  type TokenSet,
  type TokenStore,
} from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { NONCE_PROBE_REFRESH_TOKEN } from '../../adapters/oauth/dpop.js';
import { createTokenServer, resourceReply, testUrls, tokenServerHandlers, type TokenServer } from '../../adapters/testing/index.js';
import type { InspectionEvent } from 'xstate';
import { mock } from '../support/harness.js';
import { frontEndOf } from '../../adapters/core/front-end.js';
import { MODEL_INPUT, WORLD_OPTIONS } from './model.js';

/** A lock whose holder is chosen by the test: the refresh waits here until a step decides its outcome. */
export class GateLock implements RefreshLock {
  readonly waiting: { grant: () => void }[] = [];
  held = 0;
  acquisitions = 0;
  /** Times an acquire happened while another was waiting or held: a second refresh in flight. */
  overlaps = 0;

  acquire({ signal }: { signal: AbortSignal; timeoutMs: number }): Promise<LockHandle> {
    if (this.outstanding > 0) this.overlaps++;
    this.acquisitions++;
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          remove();
          this.held++;
          let released = false;
          resolve({
            release: () => {
              if (released) return;
              released = true;
              this.held--;
            },
          });
        },
      };
      const onAbort = () => {
        remove();
        reject(signal.reason);
      };
      const remove = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        signal.removeEventListener('abort', onAbort);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  get outstanding(): number {
    return this.waiting.length + this.held;
  }

  /** Let the waiting refresh proceed. */
  grant(): void {
    const next = this.waiting[0];
    if (!next) throw new Error('[world] no refresh is waiting for the lock');
    next.grant();
  }
}

/** A memory store whose change notices (another tab's writes) can be held back, as Web Storage events are. */
export interface NoticeStore extends TokenStore {
  holdNotices(): void;
  deliverNotices(): void;
}

function noticeStore(): NoticeStore {
  const inner = memoryStore();
  const listeners = new Set<() => void>();
  let holding = false;
  let pending = false;
  const notify = () => {
    for (const listener of listeners) listener();
  };
  inner.subscribe!(() => {
    if (holding) pending = true;
    else notify();
  });
  return {
    get: inner.get,
    set: inner.set,
    clear: inner.clear,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    holdNotices() {
      holding = true;
    },
    deliverNotices() {
      holding = false;
      if (pending) {
        pending = false;
        notify();
      }
    },
  };
}

export type RequestPhase = 'held' | 'queued' | 'settled';

/** A request of the app, followed from start to outcome. */
export interface TrackedRequest {
  id: number;
  kind: 'fetch' | 'refresh';
  controller: AbortController;
  phase: RequestPhase;
  /** For requests held at the resource server: the token version they were sent with. */
  sentVersion?: number;
  settled: boolean;
  value?: unknown;
  error?: unknown;
}

export interface World {
  server: TokenServer;
  store: NoticeStore;
  lock: GateLock;
  authFetch: AuthFetch;
  requests: TrackedRequest[];
  /** Resource hits per request id (first send plus replays). */
  hits: Map<number, number>;
  /** Every inspection event of the real actor. */
  inspections: InspectionEvent[];
  /** Token calls that the test made hang (not processed by the server). */
  hung: number;
  /** Fake milliseconds since the world began (not moved by wall-clock jumps). */
  elapsed: number;
  /** The after-timer of the current state: when it was armed (elapsed) and its delay. */
  timer: { eventType: string; armedAt: number; delay: number } | null;
  hangNext(): void;
  /** The next token call is refused with `use_dpop_nonce` and a new nonce, before the token server sees it. */
  askForNonceNext(): void;
  /** Nonce probes the DPoP front answered (they present no refresh token). */
  nonceProbes: number;
  /** Send a request now; `hold` keeps its response at the server until {@link World.release}. */
  send(options?: { hold?: boolean }): TrackedRequest;
  /** Let a held request's response go: the server checks its token now (expired on purpose). */
  release(request: TrackedRequest): void;
  refreshCall(): TrackedRequest;
  /** Send a POST with a one-shot stream body, with the current token made expired at the server. */
  sendStream(): TrackedRequest;
  /** The page regains focus (the session re-checks the wall clock). */
  wake(): void;
  advance(ms: number): Promise<void>;
  /** Run pending promise work and zero-delay timers without moving the clock. */
  settle(): Promise<void>;
  /** Another tab refreshes with the stored refresh token and writes the result to the store. */
  otherTabRefresh(): Promise<TokenSet>;
  dispose(): Promise<void>;
}

let nextRequestId = 0;
/** One key pair for every world of the run (made once: Web Crypto is slow on a busy machine). */
let worldKeyPair: Promise<CryptoKeyPair> | undefined;

export async function createWorld(): Promise<World> {
  const server = createTokenServer({ accessTokenTtlSeconds: WORLD_OPTIONS.accessTokenTtlSeconds });
  const store = noticeStore();
  const lock = new GateLock();
  const hits = new Map<number, number>();
  const gates = new Map<number, () => void>();
  const hangs = new Set<() => void>();
  const carried = new Map<number, string>();
  let hangNext = false;
  let askForNonce = false;
  let nonce = 0;
  const refresher = oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'authchart-model' });

  const resourceBase = `${testUrls.api}/t`;
  mock.use(
    // A DPoP front that issues nonces (RFC 9449 §8): it answers nonce probes, and refuses the
    // call a step asks it to with use_dpop_nonce, before the token server sees either.
    http.post(testUrls.tokenEndpoint, async ({ request }) => {
      const probe = new URLSearchParams(await request.clone().text()).get('refresh_token') === NONCE_PROBE_REFRESH_TOKEN;
      if (!probe && !askForNonce) return undefined;
      if (probe) world.nonceProbes++;
      else askForNonce = false;
      if (!probe || nonce === 0) nonce++;
      return HttpResponse.json({ error: 'use_dpop_nonce' }, { status: 400, headers: { 'dpop-nonce': `nonce-${nonce}` } });
    }),
    http.post(testUrls.tokenEndpoint, async ({ request }) => {
      if (!hangNext) return undefined;
      hangNext = false;
      world.hung++;
      // The call never reaches the server's logic: nothing is rotated; it ends when the client gives up.
      await new Promise<void>((resolve) => {
        hangs.add(resolve);
        request.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      return HttpResponse.error();
    }),
    http.all(`${resourceBase}/:id`, async ({ request, params }) => {
      const id = Number(params.id);
      const count = (hits.get(id) ?? 0) + 1;
      hits.set(id, count);
      if (count === 1 && gates.has(id)) {
        carried.set(id, /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1] ?? '');
        await new Promise<void>((resolve) => gates.set(id, resolve));
      }
      const reply = resourceReply(server.authenticate(request.headers.get('authorization')), { method: request.method, path: new URL(request.url).pathname });
      if (reply.kind !== 'json') throw new Error('unexpected reply');
      return HttpResponse.json(reply.body, { status: reply.status, headers: reply.headers });
    }),
    ...tokenServerHandlers(server),
  );

  // A page the session can listen to for wake-ups (focus, online, visibilitychange).
  const page = new EventTarget();
  vi.stubGlobal('addEventListener', page.addEventListener.bind(page));
  vi.stubGlobal('removeEventListener', page.removeEventListener.bind(page));

  // The session's DPoP key, made before the path runs. Web Crypto works on a thread pool,
  // outside the fake clock's control, so while the path runs proofs are signed as a
  // microtask (crypto.subtle.sign answers at once): the DPoP code path is the real one
  // (proof handles, the shared nonce, probes, use_dpop_nonce), only the signature bytes are
  // not. Real signatures, checked by a real server, are in tests/e2e/dpop.test.ts.
  worldKeyPair ??= generateDPoPKeyPair().then(async (pair) => {
    // One proof signed for real before any path runs: oauth4webapi caches the public JWK then.
    const client = { client_id: 'authchart-model' };
    await oauth.refreshTokenGrantRequest({ issuer: testUrls.tokenEndpoint, token_endpoint: testUrls.tokenEndpoint }, client, oauth.None(), 'warm-up', {
      DPoP: oauth.DPoP({}, pair),
      [oauth.customFetch]: async () => new Response('{}'),
    });
    return pair;
  });
  const keyPair = await worldKeyPair;
  const dpop: DPoPKeyStore = { getOrCreate: async () => keyPair, rotate: async () => keyPair, clear: async () => undefined };
  vi.spyOn(globalThis.crypto.subtle, 'sign').mockImplementation(async () => new Uint8Array(64).buffer);

  const login = server.login();
  const inspections: InspectionEvent[] = [];
  const authFetch = createAuthFetch({
    ...MODEL_INPUT,
    maxWaitMs: WORLD_OPTIONS.maxWaitMs,
    refresh: refresher,
    store,
    lock,
    refreshTimeoutMs: WORLD_OPTIONS.refreshTimeoutMs,
    lockTimeoutMs: WORLD_OPTIONS.lockTimeoutMs,
    dpop,
    allowedOrigins: [new URL(testUrls.api).origin],
    // The token server answers Bearer (it ignores proofs, as a server without DPoP support
    // does): requests go as Bearer; the token calls carry proofs and meet nonces.
    tokens: {
      accessToken: login.access_token,
      refreshToken: login.refresh_token,
      expiresAt: Date.now() + login.expires_in * 1000,
      tokenType: login.token_type,
    },
    inspect: (event) => inspections.push(event),
  });

  const track = (request: TrackedRequest, promise: Promise<unknown>) => {
    promise.then(
      (value) => Object.assign(request, { settled: true, phase: 'settled', value }),
      (error) => Object.assign(request, { settled: true, phase: 'settled', error }),
    );
    return request;
  };

  const world: World = {
    server,
    store,
    lock,
    authFetch,
    requests: [],
    hits,
    inspections,
    hung: 0,
    elapsed: 0,
    timer: null,
    nonceProbes: 0,
    askForNonceNext() {
      askForNonce = true;
    },
    hangNext() {
      hangNext = true;
    },
    send(options = {}) {
      const id = ++nextRequestId;
      const controller = new AbortController();
      const request: TrackedRequest = { id, kind: 'fetch', controller, phase: 'queued', settled: false };
      if (options.hold) {
        gates.set(id, () => undefined);
        request.phase = 'held';
        request.sentVersion = authFetch.getStatus().tokenVersion;
      }
      world.requests.push(request);
      return track(request, authFetch(`${resourceBase}/${id}`, { signal: controller.signal }));
    },
    release(request) {
      const open = gates.get(request.id);
      if (!open || request.phase !== 'held') throw new Error(`[world] request ${request.id} is not held`);
      gates.delete(request.id);
      // It reaches the server after its token expired: that is what makes it a 401.
      const token = carried.get(request.id);
      if (!token) throw new Error(`[world] request ${request.id} never reached the server`);
      server.expireAccessTokens([token]);
      open();
    },
    refreshCall() {
      const controller = new AbortController();
      const request: TrackedRequest = { id: ++nextRequestId, kind: 'refresh', controller, phase: 'queued', settled: false };
      world.requests.push(request);
      return track(request, authFetch.refresh({ signal: controller.signal }));
    },
    sendStream() {
      const id = ++nextRequestId;
      const controller = new AbortController();
      const request: TrackedRequest = { id, kind: 'fetch', controller, phase: 'queued', settled: false };
      world.requests.push(request);
      const current = frontEndOf(authFetch.session).credential();
      if (current instanceof Promise) throw new Error('[world] sendStream needs a current token');
      server.expireAccessTokens([current.accessToken]);
      const body = new ReadableStream({
        start(stream) {
          stream.enqueue(new TextEncoder().encode('one-shot'));
          stream.close();
        },
      });
      return track(request, authFetch(`${resourceBase}/${id}`, { method: 'POST', body, duplex: 'half', signal: controller.signal } as RequestInit));
    },
    wake() {
      page.dispatchEvent(new Event('focus'));
    },
    async advance(ms) {
      world.elapsed += ms;
      await vi.advanceTimersByTimeAsync(ms);
    },
    async settle() {
      for (let i = 0; i < 4; i++) await vi.advanceTimersByTimeAsync(0);
    },
    async otherTabRefresh() {
      const stored = await store.get();
      if (!stored?.refreshToken) throw new Error('[world] the other tab has no refresh token to refresh with');
      const answer = await refresher(stored.refreshToken, { signal: new AbortController().signal });
      // The token server issues Bearer tokens: the other tab records them as such, as a tab with DPoP on would.
      const tokens: TokenSet = {
        accessToken: answer.accessToken,
        refreshToken: answer.refreshToken ?? stored.refreshToken,
        expiresAt: Date.now() + (answer.expiresIn ?? 60) * 1000,
        tokenType: 'Bearer',
      };
      await store.set(tokens);
      return tokens;
    },
    async dispose() {
      await authFetch.dispose();
      for (const open of gates.values()) open();
      gates.clear();
      for (const resolve of hangs) resolve();
      await world.settle();
    },
  };
  await world.settle();
  return world;
}
