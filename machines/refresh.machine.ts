/**
 * The token-refresh statechart: the whole of authchart's logic.
 *
 * It imports nothing but `xstate`. Everything that touches the outside world (HTTP,
 * storage, locks, the queue of waiting requests) lives in adapters, which send events in
 * and act on what the machine emits. Tokens never enter the machine: context holds
 * counters and a `tokenVersion` only, so diagrams and inspectors never show a secret.
 *
 * States (names are the public contract): `idle`, `debouncing`, `refreshing`,
 * `backoff` (n = `context.attempt`), `loggedOut`. The rules it keeps are cited as R1–R15:
 * see docs/design.md.
 */
import { and, assign, emit, fromPromise, not, setup, type SnapshotFrom } from 'xstate';

/** How the machine classifies a failed refresh (R5). */
export type FailureKind = 'transient' | 'permanent';

/**
 * A failed refresh, as data: the one failure vocabulary of authchart. Refresh actors reject
 * with an object carrying these fields (authchart's `RefreshError` implements them);
 * anything else is a transient failure with reason `UNKNOWN`.
 */
export interface RefreshFailure {
  kind: FailureKind;
  /** The public error code (`REFRESH_FAILED`, `INVALID_TOKEN_RESPONSE`, `LOCK_TIMEOUT`, `STORE_UNAVAILABLE`, …). */
  code: string;
  /** Why, in one stable word: `NETWORK`, `TIMEOUT`, `HTTP_503`, an OAuth error such as `invalid_grant`, `NO_REFRESH_TOKEN`, … */
  reason: string;
  /** HTTP status of the token endpoint's answer, when there was one. */
  status?: number;
  /** Server-requested wait (Retry-After), in milliseconds. */
  retryAfterMs?: number;
  /** No refresh token (or no tokens at all) to present: nothing can succeed, log out at once. */
  sessionGone?: boolean;
}

/** What a successful refresh actor resolves with. Never a token. */
export interface RefreshSuccess {
  /** Version the adapter gave to the token set it now holds. */
  tokenVersion: number;
  /** Access-token expiry (epoch ms), or null when unknown. */
  expiresAt: number | null;
  /** When to refresh proactively (epoch ms), or null when the expiry is unknown. */
  refreshAt: number | null;
  /** `server`: a token call was made; `store`: another tab or instance had refreshed already. */
  source: 'server' | 'store';
}

/** Input given to the refresh actor. */
export interface RefreshInput {
  /** The token version the refresh starts from. */
  tokenVersion: number;
  /** 0 for the first try, n for the retry after backoff(n). */
  attempt: number;
  trigger: RefreshTrigger;
}

/** What started a refresh: a batch of 401s, a caller (`refresh()`, an expired token), or the proactive timer. */
export type RefreshTrigger = 'unauthorized' | 'requested' | 'proactive';

/** Why the session ended. */
export type LoggedOutReason = 'logout' | 'permanentFailures' | 'noRefreshToken' | 'noSession' | 'remote';

/** Error codes the machine hands to adapters when it rejects waiting requests. */
export type QueueRejectCode = 'SESSION_EXPIRED' | 'REFRESH_UNAVAILABLE';

/** Tunables of the statechart. Every field is optional when creating a session. */
export interface RefreshMachineOptions {
  /**
   * Window that gathers near-simultaneous 401s into one refresh, measured from the first
   * 401. New 401s do not extend it. 0 is allowed.
   * @default 100
   */
  debounceMs: number;
  /**
   * Delay before the first retry; retry n waits `backoffBaseMs * backoffFactor ** (n - 1)`.
   * @default 1000
   */
  backoffBaseMs: number;
  /** @default 2 */
  backoffFactor: number;
  /**
   * Number of backoff steps (retries) after a failed refresh. Transient failures past the
   * last one reject waiting requests with `REFRESH_UNAVAILABLE` and keep the session.
   * @default 3
   */
  maxRetries: number;
  /**
   * Consecutive permanent failures (for instance `invalid_grant`) that end the session.
   * @default 3
   */
  maxPermanentFailures: number;
  /**
   * Upper bound of one backoff delay, including a server's Retry-After.
   * @default 30000
   */
  maxBackoffMs: number;
  /**
   * Share of each backoff delay that is randomised (0 = off, 1 = "full jitter").
   * @default 0
   */
  jitter: number;
  /**
   * Refresh ahead of the expiry even while nothing uses the tokens (R13). Otherwise the
   * proactive timer is armed only once a request has used the current token (`TOKEN_USED`).
   * @default false
   */
  keepAlive: boolean;
}

/** Defaults of {@link RefreshMachineOptions}. */
export const defaultRefreshOptions: Readonly<RefreshMachineOptions> = Object.freeze({
  debounceMs: 100,
  backoffBaseMs: 1000,
  backoffFactor: 2,
  maxRetries: 3,
  maxPermanentFailures: 3,
  maxBackoffMs: 30_000,
  jitter: 0,
  keepAlive: false,
});

/** Input of the machine. */
export interface RefreshMachineInput extends Partial<RefreshMachineOptions> {
  /** Version of the tokens the adapter holds at start (0: none). */
  tokenVersion?: number;
  /** Access-token expiry at start (epoch ms). */
  expiresAt?: number | null;
  /** When to refresh proactively at start (epoch ms). */
  refreshAt?: number | null;
}

/** Serializable context: counters and facts, never a token or a promise. */
export interface RefreshContext {
  options: RefreshMachineOptions;
  /** Version of the newest token set; a 401 for an older version is stale (R3). */
  tokenVersion: number;
  expiresAt: number | null;
  /** When `idle` refreshes on its own, before the expiry (R8); null when the expiry is unknown. */
  refreshAt: number | null;
  /** A request has used the current token (or `keepAlive`): only then does the proactive timer run (R13). */
  inUse: boolean;
  /** Failed attempts in the current refresh cycle: `backoff(n)` has `attempt === n`. */
  attempt: number;
  /** Consecutive permanent failures (R6). */
  permanentFailures: number;
  /** Requests waiting for the refresh (the adapters hold them; the machine counts them). */
  queued: number;
  lastError: RefreshFailure | null;
  loggedOutReason: LoggedOutReason | null;
  /** What started the current (or last) refresh cycle. */
  trigger: RefreshTrigger;
}

/** Events adapters send. */
export type RefreshEvent =
  /** A request came back 401. `tokenVersion`: the version it was sent with (null: none). Without `requestId` nothing waits. */
  | { type: 'UNAUTHORIZED'; tokenVersion: number | null; requestId?: string }
  /** A fresh token is wanted (manual refresh, `getAccessToken` on an expired token). With `requestId` the caller waits. */
  | { type: 'REFRESH'; requestId?: string }
  /** A waiting request left the queue (aborted, or waited longer than `maxWaitMs`). */
  | { type: 'REQUEST_LEFT'; requestId: string }
  /** New tokens from a sign-in. */
  | { type: 'LOGIN'; tokenVersion: number; expiresAt?: number | null; refreshAt?: number | null }
  /** New tokens from elsewhere: another tab, or pushed by a server. Never starts a refresh. */
  | { type: 'TOKENS_UPDATED'; tokenVersion: number; expiresAt?: number | null; refreshAt?: number | null }
  /** The host may have slept (wake, focus, `visibilitychange`, `online`): re-check the wall clock (R8). */
  | { type: 'WAKE' }
  /** A request used the current token, the first time since it arrived: the session is in use (R13). */
  | { type: 'TOKEN_USED' }
  | { type: 'LOGOUT'; reason?: LoggedOutReason };

/** Events the machine emits; adapters act on them (`actor.on(type, handler)`). */
export type RefreshEmitted =
  /** A stale 401 (R3): replay that request at once with the current token. */
  | { type: 'request.replay'; requestId: string; tokenVersion: number }
  /** A request arrived while logged out: reject it. */
  | { type: 'request.reject'; requestId: string; code: 'SESSION_EXPIRED' }
  /** New tokens: release every waiting request. */
  | { type: 'queue.release'; tokenVersion: number }
  /** Reject every waiting request. */
  | { type: 'queue.reject'; code: QueueRejectCode }
  | { type: 'refreshed'; tokenVersion: number; source: RefreshSuccess['source']; trigger: RefreshTrigger }
  | { type: 'refreshFailed'; failure: RefreshFailure; attempt: number; willRetry: boolean }
  | { type: 'loggedOut'; reason: LoggedOutReason };

/**
 * The one converter: the failure facts of anything a refresh rejected with (a `RefreshError`,
 * or a plain object with these fields), as a plain serializable object. Anything else is a
 * transient `UNKNOWN` failure.
 */
export function toRefreshFailure(error: unknown): RefreshFailure {
  const e = error as Partial<RefreshFailure> | null;
  if (e && (e.kind === 'transient' || e.kind === 'permanent')) {
    const failure: RefreshFailure = {
      kind: e.kind,
      code: typeof e.code === 'string' ? e.code : 'REFRESH_FAILED',
      reason: typeof e.reason === 'string' ? e.reason : 'UNKNOWN',
    };
    if (typeof e.status === 'number') failure.status = e.status;
    if (typeof e.retryAfterMs === 'number' && e.retryAfterMs >= 0) failure.retryAfterMs = e.retryAfterMs;
    if (e.sessionGone === true) failure.sessionGone = true;
    return failure;
  }
  return { kind: 'transient', code: 'REFRESH_FAILED', reason: 'UNKNOWN' };
}

/** Largest delay a host timer takes (2^31 - 1 ms); longer ones fire at once in browsers and Node. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Time until the proactive refresh; when the expiry is unknown, the longest timer (its
 * guard then finds nothing due and the timer is simply re-armed).
 */
export function proactiveDelay(refreshAt: number | null, now: number): number {
  if (refreshAt === null) return MAX_TIMER_MS;
  return Math.min(MAX_TIMER_MS, Math.max(0, refreshAt - now));
}

/** Delay of backoff(n): `base * factor^(n-1)`, at least Retry-After, at most `maxBackoffMs`, optionally jittered. */
export function backoffDelay(context: Pick<RefreshContext, 'options' | 'attempt' | 'lastError'>, random: () => number = Math.random): number {
  const { backoffBaseMs, backoffFactor, maxBackoffMs, jitter } = context.options;
  const exponential = backoffBaseMs * backoffFactor ** Math.max(0, context.attempt - 1);
  const jittered = jitter > 0 ? exponential * (1 - Math.min(1, jitter) * random()) : exponential;
  const wanted = Math.max(jittered, context.lastError?.retryAfterMs ?? 0);
  return Math.min(wanted, maxBackoffMs);
}

/** The failure carried by an `xstate.error.actor.refresh` event. */
function failureOf(event: unknown): RefreshFailure {
  return toRefreshFailure((event as { error?: unknown }).error);
}

export const refreshMachine = setup({
  types: {
    context: {} as RefreshContext,
    events: {} as RefreshEvent,
    emitted: {} as RefreshEmitted,
    input: {} as RefreshMachineInput,
  },
  actors: {
    /** Provided by the session adapter: lock, double-check the store, call the refresher, store. */
    refresh: fromPromise<RefreshSuccess, RefreshInput>(async () => {
      throw new Error('[authchart] the refresh actor must be provided with machine.provide()');
    }),
  },
  delays: {
    debounce: ({ context }) => context.options.debounceMs,
    backoff: ({ context }) => backoffDelay(context),
    // Adapters provide their own clock; Date.now is the default. Not in use: no timer to speak of.
    proactive: ({ context }) => (context.inUse ? proactiveDelay(context.refreshAt, Date.now()) : MAX_TIMER_MS),
  },
  guards: {
    isStale: ({ context, event }) => event.type === 'UNAUTHORIZED' && event.tokenVersion !== null && event.tokenVersion < context.tokenVersion,
    hasWaiter: ({ event }) => 'requestId' in event && typeof event.requestId === 'string',
    sessionGone: ({ event }) => failureOf(event).sessionGone === true,
    permanentLimitReached: ({ context, event }) => {
      const failure = failureOf(event);
      return failure.kind === 'permanent' && context.permanentFailures + 1 >= context.options.maxPermanentFailures;
    },
    retriesExhausted: ({ context }) => context.attempt >= context.options.maxRetries,
    // DPoP (RFC 9449): the server asked for a new nonce. Not a failure: retried at once, once;
    // a second request for a nonce in a row is an ordinary transient failure.
    dpopNonceRequested: ({ context, event }) => failureOf(event).reason === 'use_dpop_nonce' && context.lastError?.reason !== 'use_dpop_nonce',
    refreshDue: ({ context }) => context.refreshAt !== null && Date.now() >= context.refreshAt,
    inUse: ({ context }) => context.inUse,
  },
  actions: {
    joinQueue: assign({
      queued: ({ context, event }) => ('requestId' in event && typeof event.requestId === 'string' ? context.queued + 1 : context.queued),
    }),
    leaveQueue: assign({ queued: ({ context }) => Math.max(0, context.queued - 1) }),
    replayStale: emit(({ context, event }) => ({
      type: 'request.replay' as const,
      requestId: (event as { requestId: string }).requestId,
      tokenVersion: context.tokenVersion,
    })),
    rejectRequest: emit(({ event }) => ({
      type: 'request.reject' as const,
      requestId: (event as { requestId: string }).requestId,
      code: 'SESSION_EXPIRED' as const,
    })),
    adoptTokens: assign(({ context, event }) => {
      const e = event as Extract<RefreshEvent, { type: 'LOGIN' | 'TOKENS_UPDATED' }>;
      return {
        tokenVersion: e.tokenVersion,
        expiresAt: e.expiresAt ?? null,
        refreshAt: e.refreshAt ?? null,
        inUse: context.options.keepAlive,
        attempt: 0,
        permanentFailures: 0,
        lastError: null,
        loggedOutReason: null,
      };
    }),
    markInUse: assign({ inUse: true }),
    releaseQueue: emit(({ context }) => ({ type: 'queue.release' as const, tokenVersion: context.tokenVersion })),
    emptyQueue: assign({ queued: 0 }),
    recordFailure: assign(({ context, event }) => {
      const failure = failureOf(event);
      return {
        lastError: failure,
        attempt: context.attempt + 1,
        permanentFailures: failure.kind === 'permanent' ? context.permanentFailures + 1 : 0,
      };
    }),
    announceFailure: emit(({ context }) => ({
      type: 'refreshFailed' as const,
      failure: context.lastError ?? { kind: 'transient' as const, code: 'REFRESH_FAILED', reason: 'UNKNOWN' },
      attempt: context.attempt,
      willRetry: false,
    })),
    announceRetry: emit(({ context }) => ({
      type: 'refreshFailed' as const,
      failure: context.lastError ?? { kind: 'transient' as const, code: 'REFRESH_FAILED', reason: 'UNKNOWN' },
      attempt: context.attempt,
      willRetry: true,
    })),
    rejectQueueUnavailable: emit({ type: 'queue.reject' as const, code: 'REFRESH_UNAVAILABLE' as const }),
    // The cycle gave up. Forget refreshAt: it is past, so the proactive timer would start the
    // next cycle at once, and again after that, against a server that is down. The next
    // request that needs a token (a 401, an expired token, refresh()) starts one instead.
    resetCycle: assign({ queued: 0, attempt: 0, refreshAt: null }),
    setLoggedOutReason: assign({
      loggedOutReason: ({ event }) => {
        if (event.type === 'LOGOUT') return event.reason ?? 'logout';
        return failureOf(event).sessionGone ? 'noRefreshToken' : 'permanentFailures';
      },
    }),
  },
}).createMachine({
  id: 'authchart',
  context: ({ input }) => ({
    options: {
      debounceMs: input.debounceMs ?? defaultRefreshOptions.debounceMs,
      backoffBaseMs: input.backoffBaseMs ?? defaultRefreshOptions.backoffBaseMs,
      backoffFactor: input.backoffFactor ?? defaultRefreshOptions.backoffFactor,
      maxRetries: input.maxRetries ?? defaultRefreshOptions.maxRetries,
      maxPermanentFailures: input.maxPermanentFailures ?? defaultRefreshOptions.maxPermanentFailures,
      maxBackoffMs: input.maxBackoffMs ?? defaultRefreshOptions.maxBackoffMs,
      jitter: input.jitter ?? defaultRefreshOptions.jitter,
      keepAlive: input.keepAlive ?? defaultRefreshOptions.keepAlive,
    },
    tokenVersion: input.tokenVersion ?? 0,
    expiresAt: input.expiresAt ?? null,
    refreshAt: input.refreshAt ?? null,
    inUse: input.keepAlive ?? defaultRefreshOptions.keepAlive,
    trigger: 'unauthorized',
    attempt: 0,
    permanentFailures: 0,
    queued: 0,
    lastError: null,
    loggedOutReason: null,
  }),
  initial: 'idle',
  on: {
    REQUEST_LEFT: { actions: 'leaveQueue' },
    LOGIN: { target: '.idle', actions: ['adoptTokens', 'releaseQueue', 'emptyQueue'] },
    LOGOUT: { target: '.loggedOut', actions: 'setLoggedOutReason' },
  },
  states: {
    idle: {
      description:
        'Tokens believed valid. A fresh 401 opens the debounce window; a stale one is replayed at once. While in use (a request used the token, or keepAlive), refreshes on its own at refreshAt (expiry minus leeway).',
      tags: ['ready'],
      on: {
        UNAUTHORIZED: [
          { guard: 'isStale', actions: 'replayStale' },
          { target: 'debouncing', actions: ['joinQueue', assign({ trigger: 'unauthorized' })] },
        ],
        REFRESH: { target: 'refreshing', actions: ['joinQueue', assign({ trigger: 'requested' })] },
        TOKENS_UPDATED: { target: 'idle', reenter: true, actions: 'adoptTokens' },
        WAKE: [
          { guard: and(['inUse', 'refreshDue']), target: 'refreshing', actions: assign({ trigger: 'proactive' }) },
          // Not due: re-enter to reschedule the timer against the wall clock.
          { target: 'idle', reenter: true },
        ],
        // The first use of a token since it arrived: refresh now if it is due (the request goes
        // out with the current token meanwhile), else arm the proactive timer (R13).
        TOKEN_USED: [
          { guard: 'refreshDue', target: 'refreshing', actions: ['markInUse', assign({ trigger: 'proactive' })] },
          { guard: not('inUse'), target: 'idle', reenter: true, actions: 'markInUse' },
        ],
      },
      after: {
        proactive: [
          { guard: and(['inUse', 'refreshDue']), target: 'refreshing', actions: assign({ trigger: 'proactive' }) },
          { target: 'idle', reenter: true },
        ],
      },
    },
    debouncing: {
      description: 'Gathers near-simultaneous 401s into one refresh. The window is not extended.',
      tags: ['waiting'],
      after: { debounce: 'refreshing' },
      on: {
        UNAUTHORIZED: { actions: 'joinQueue' },
        REFRESH: { actions: 'joinQueue' },
        TOKENS_UPDATED: { target: 'idle', actions: ['adoptTokens', 'releaseQueue', 'emptyQueue'] },
      },
    },
    refreshing: {
      description: 'Exactly one refresh in flight. A DPoP use_dpop_nonce answer re-enters it at once with the new nonce: not a failure.',
      tags: ['waiting'],
      invoke: {
        id: 'refresh',
        src: 'refresh',
        input: ({ context }) => ({ tokenVersion: context.tokenVersion, attempt: context.attempt, trigger: context.trigger }),
        onDone: {
          target: 'idle',
          actions: [
            assign(({ context, event }) => ({
              tokenVersion: event.output.tokenVersion,
              expiresAt: event.output.expiresAt,
              refreshAt: event.output.refreshAt,
              inUse: context.options.keepAlive,
              attempt: 0,
              permanentFailures: 0,
              lastError: null,
            })),
            emit(({ context, event }) => ({
              type: 'refreshed' as const,
              tokenVersion: event.output.tokenVersion,
              source: event.output.source,
              trigger: context.trigger,
            })),
            'releaseQueue',
            'emptyQueue',
          ],
        },
        onError: [
          { guard: 'dpopNonceRequested', target: 'refreshing', reenter: true, actions: assign({ lastError: ({ event }) => failureOf(event) }) },
          {
            guard: 'sessionGone',
            target: 'loggedOut',
            actions: ['recordFailure', 'announceFailure', 'setLoggedOutReason'],
          },
          {
            guard: 'permanentLimitReached',
            target: 'loggedOut',
            actions: ['recordFailure', 'announceFailure', 'setLoggedOutReason'],
          },
          {
            guard: 'retriesExhausted',
            target: 'idle',
            actions: ['recordFailure', 'announceFailure', 'rejectQueueUnavailable', 'resetCycle'],
          },
          { target: 'backoff', actions: ['recordFailure', 'announceRetry'] },
        ],
      },
      on: {
        UNAUTHORIZED: { actions: 'joinQueue' },
        REFRESH: { actions: 'joinQueue' },
        // Tokens from elsewhere release the queue, but the refresh in flight is left to
        // finish: it may already have rotated the refresh token, and dropping its answer
        // would lose the only valid one.
        TOKENS_UPDATED: { actions: ['adoptTokens', 'releaseQueue', 'emptyQueue'] },
      },
    },
    backoff: {
      description: 'backoff(n): waits backoffBaseMs * backoffFactor^(n-1) (1 s, 2 s, 4 s), or Retry-After, then retries.',
      tags: ['waiting'],
      after: { backoff: 'refreshing' },
      on: {
        UNAUTHORIZED: { actions: 'joinQueue' },
        REFRESH: { actions: 'joinQueue' },
        TOKENS_UPDATED: { target: 'idle', actions: ['adoptTokens', 'releaseQueue', 'emptyQueue'] },
      },
    },
    loggedOut: {
      description: 'The session is gone: waiting and new requests are rejected until LOGIN.',
      tags: ['loggedOut'],
      entry: [
        emit({ type: 'queue.reject' as const, code: 'SESSION_EXPIRED' as const }),
        assign({ queued: 0, attempt: 0, permanentFailures: 0 }),
        emit(({ context }) => ({ type: 'loggedOut' as const, reason: context.loggedOutReason ?? 'logout' })),
      ],
      on: {
        UNAUTHORIZED: { guard: 'hasWaiter', actions: 'rejectRequest' },
        REFRESH: { guard: 'hasWaiter', actions: 'rejectRequest' },
        LOGOUT: { actions: [] },
      },
    },
  },
});

export type RefreshMachine = typeof refreshMachine;
export type RefreshSnapshot = SnapshotFrom<RefreshMachine>;

/** Coarse status for UIs: `authenticated`, `refreshing` (a 401 is being handled) or `loggedOut`. */
export type SessionStatus = 'authenticated' | 'refreshing' | 'loggedOut';

/** The state's name: `idle`, `debouncing`, `refreshing`, `backoff` or `loggedOut`. */
export const selectState = (snapshot: RefreshSnapshot) => snapshot.value as 'idle' | 'debouncing' | 'refreshing' | 'backoff' | 'loggedOut';

/** True while requests wait for a refresh (`debouncing`, `refreshing`, `backoff`). */
export const selectIsWaiting = (snapshot: RefreshSnapshot) => snapshot.hasTag('waiting');

/** True once the session has ended. */
export const selectIsLoggedOut = (snapshot: RefreshSnapshot) => snapshot.hasTag('loggedOut');

export const selectSessionStatus = (snapshot: RefreshSnapshot): SessionStatus =>
  snapshot.hasTag('loggedOut') ? 'loggedOut' : snapshot.hasTag('waiting') ? 'refreshing' : 'authenticated';

export const selectTokenVersion = (snapshot: RefreshSnapshot) => snapshot.context.tokenVersion;
export const selectQueued = (snapshot: RefreshSnapshot) => snapshot.context.queued;
