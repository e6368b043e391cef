/**
 * The sessions a soak drives, in groups that share one grant: two tabs of one browser (one
 * store, one lock, one clock), two server instances (one store, one lock, two clocks), a
 * session alone, and one with `keepAlive`. Every refresher call is counted per grant, every
 * call into a session is tracked against its bound.
 */
import { createAuthFetch, type AuthFetch } from '../../adapters/fetch/index.js';
import { isAuthchartError, memoryLock, sessionDefaults, type Refresher, type RefreshLock } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { testUrls } from '../../adapters/testing/index.js';
import { chaosStore, type ChaosStore } from './chaos-store.js';
import type { Ledger } from './ledger.js';
import type { Random } from './random.js';
import { clientIdOf, type Grant, type TokenEndpoint } from './token-endpoint.js';

export interface GroupSpec {
  name: string;
  sessions: number;
  /** One clock for the group (tabs of one browser) or one per session (server instances). */
  sharedClock: boolean;
  keepAlive: boolean;
}

export const GROUPS: readonly GroupSpec[] = [
  { name: 'tabs', sessions: 2, sharedClock: true, keepAlive: false },
  { name: 'instances', sessions: 2, sharedClock: false, keepAlive: false },
  { name: 'solo', sessions: 1, sharedClock: true, keepAlive: false },
  { name: 'keepalive', sessions: 1, sharedClock: true, keepAlive: true },
];

/** A session's clock: the host's (fake) time plus a skew that jumps. */
export interface Clock {
  skewMs: number;
}

export interface SoakSession {
  id: string;
  group: Group;
  authFetch: AuthFetch;
  clock: Clock;
  /** Tell the session the host woke up (as focus or visibilitychange would). */
  wake: () => void;
  /** A login, logout or push of the driver's is pending (one at a time). */
  busy: boolean;
  /** logout() was called on it and no login since: its loggedOut is the user's. */
  loggedOutByUser: boolean;
}

export interface Group {
  spec: GroupSpec;
  store: ChaosStore;
  lock: RefreshLock | undefined;
  sessions: SoakSession[];
  clocks: Clock[];
  /** The grant the driver signed the group in with last. */
  grant: Grant | null;
  /** Refresher calls in flight for this grant, and whose. */
  inFlight: number;
  caller: string | undefined;
}

export const OPTIONS = {
  maxWaitMs: sessionDefaults.maxWaitMs,
  refreshTimeoutMs: sessionDefaults.refreshTimeoutMs,
  storeTimeoutMs: sessionDefaults.storeTimeoutMs,
  leewayMs: sessionDefaults.leewayMs,
  minRefreshIntervalMs: sessionDefaults.minRefreshIntervalMs,
} as const;

export type OpKind = 'request' | 'getAccessToken' | 'refresh' | 'login' | 'logout' | 'updateTokens';

/** The longest each kind of call may take (the documented bounds; see docs/soak.md). */
export const BOUNDS: Record<OpKind, number> = {
  // Wait for the initial load, for the credential, for the refresh after a 401: each maxWaitMs; two trips.
  request: 3 * OPTIONS.maxWaitMs + 2 * 300 + 1_000,
  getAccessToken: 2 * OPTIONS.maxWaitMs + 1_000,
  refresh: 2 * OPTIONS.maxWaitMs + 1_000,
  // Store operations run one at a time, each within storeTimeoutMs: a push reads and writes
  // up to three times, behind at most a write retry and a logout's read-and-clear.
  login: OPTIONS.maxWaitMs + 10 * OPTIONS.storeTimeoutMs,
  logout: OPTIONS.maxWaitMs + 10 * OPTIONS.storeTimeoutMs,
  updateTokens: OPTIONS.maxWaitMs + 10 * OPTIONS.storeTimeoutMs,
};

interface Op {
  kind: OpKind;
  session: string;
  startedAt: number;
  settled: boolean;
  overdue: boolean;
  /** Started in a calm stretch: it must succeed. */
  calm: boolean;
}

/** Every call into a session, with its bound and how it settled. */
export class Ops {
  private open = new Set<Op>();
  started = 0;

  constructor(
    private readonly ledger: Ledger,
    private readonly elapsed: () => number,
  ) {}

  track(kind: OpKind, session: SoakSession, promise: Promise<unknown>, options: { calm?: boolean; aborted?: () => boolean } = {}): void {
    const op: Op = { kind, session: session.id, startedAt: this.elapsed(), settled: false, overdue: false, calm: options.calm ?? false };
    this.open.add(op);
    this.started++;
    const settle = (failure: string | null, succeeded: boolean, outcome: string) => {
      this.open.delete(op);
      op.settled = true;
      const took = this.elapsed() - op.startedAt;
      const late = took > BOUNDS[kind] && !op.overdue ? `${kind} of ${session.id} took ${took} ms, past its bound of ${BOUNDS[kind]} ms` : null;
      this.ledger.check('every call settles within its bound', failure ?? late);
      if (op.calm) this.ledger.check('calm stretches succeed', succeeded ? null : `${kind} of ${session.id} in a calm stretch failed: ${outcome}`);
    };
    promise.then(
      (value) => {
        const status = value instanceof Response ? value.status : 200;
        if (value instanceof Response) void value.body?.cancel().catch(() => undefined);
        settle(status === 200 ? null : `${kind} of ${session.id} resolved with HTTP ${status}`, status === 200, `HTTP ${status}`);
      },
      (error: unknown) => {
        const ownAbort = options.aborted?.() === true && (error as Error | undefined)?.name === 'AbortError';
        const typed = isAuthchartError(error) || ownAbort;
        const what = isAuthchartError(error) ? error.code : String((error as Error | undefined)?.message ?? error);
        settle(typed ? null : `${kind} of ${session.id} failed with an untyped error: ${what}`, false, what);
      },
    );
  }

  /** Report calls past their bound (once each). */
  checkOverdue(): void {
    const now = this.elapsed();
    for (const op of this.open) {
      if (op.overdue || now - op.startedAt <= BOUNDS[op.kind]) continue;
      op.overdue = true;
      this.ledger.check(
        'every call settles within its bound',
        `${op.kind} of ${op.session} still unsettled ${now - op.startedAt} ms after it began (bound ${BOUNDS[op.kind]} ms)`,
      );
    }
  }

  get pending(): number {
    return this.open.size;
  }
}

/** Create the groups and their sessions, each group signed in with a new grant. */
export function createGroups(context: {
  random: Random;
  ledger: Ledger;
  endpoint: () => TokenEndpoint;
  /** Called when a session enters loggedOut. */
  onLoggedOut: (session: SoakSession, reason: string) => void;
  /** Called when a store clear lands, with the record it removes. */
  onClear: (group: Group, removed: ReturnType<ChaosStore['peek']>) => void;
}): Group[] {
  const { random, ledger } = context;
  return GROUPS.map((spec) => {
    const group: Group = {
      spec,
      store: undefined as unknown as ChaosStore,
      lock: spec.sessions > 1 ? memoryLock() : undefined,
      sessions: [],
      clocks: [],
      grant: null,
      inFlight: 0,
      caller: undefined,
    };
    const label = (token: string | undefined) => context.endpoint().label(token);
    group.store = chaosStore(
      random.fork(`store-${spec.name}`),
      (removed) => {
        ledger.trace(() => `store of ${spec.name}: cleared (had ${label(removed?.refreshToken)})`);
        context.onClear(group, removed);
      },
      (tokens, expected, written) =>
        ledger.trace(
          () =>
            `store of ${spec.name}: set ${label(tokens.accessToken)} ${label(tokens.refreshToken)} if v${expected ?? '*'} → ${written ? `v${written.version}` : 'refused'}`,
        ),
    );
    const oauth = oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: clientIdOf(spec.name) });
    const first = context.endpoint().login(spec.name);
    group.grant = first.grant;
    const shared: Clock = { skewMs: 0 };
    for (let i = 0; i < spec.sessions; i++) {
      const id = spec.sessions > 1 ? `${spec.name}-${String.fromCharCode(97 + i)}` : spec.name;
      const clock = spec.sharedClock ? shared : { skewMs: 0 };
      if (!group.clocks.includes(clock)) group.clocks.push(clock);
      let wakeUp: () => void = () => undefined;
      const refresh: Refresher = async (refreshToken, callContext) => {
        // In flight until it settles, or until the session abandons it (its signal aborts: the
        // refresh passed refreshTimeoutMs, or a logout or dispose ended it). An abandoned call's
        // connection is closed; its promise may unwind a few microtasks later.
        let live = true;
        const end = () => {
          if (!live) return;
          live = false;
          group.inFlight--;
          callContext.signal.removeEventListener('abort', end);
        };
        group.inFlight++;
        group.caller = id;
        ledger.check(
          'one token call in flight per grant',
          group.inFlight > 1 ? `${group.inFlight} token calls in flight for the grant of group ${spec.name} (${id} started one)` : null,
        );
        callContext.signal.addEventListener('abort', end);
        callContext.signal.addEventListener('abort', () => ledger.trace(() => `${id} abandons its token call`));
        try {
          const answer = await oauth(refreshToken, callContext);
          context.endpoint().reached(answer.refreshToken, id);
          return answer;
        } finally {
          end();
        }
      };
      const authFetch = createAuthFetch({
        refresh,
        store: group.store.store,
        lock: group.lock,
        allowedOrigins: [new URL(testUrls.api).origin],
        ...(i === 0
          ? { tokens: { accessToken: first.accessToken, refreshToken: first.refreshToken, ...(first.expiresAt ? { expiresAt: first.expiresAt } : {}) } }
          : {}),
        keepAlive: spec.keepAlive,
        now: () => Date.now() + clock.skewMs,
        wake: (fire) => {
          wakeUp = fire;
          return () => {
            wakeUp = () => undefined;
          };
        },
      });
      const session: SoakSession = { id, group, authFetch, clock, wake: () => wakeUp(), busy: false, loggedOutByUser: false };
      authFetch.on('loggedOut', ({ reason }) => context.onLoggedOut(session, reason));
      authFetch.on('refreshed', ({ source, trigger }) => ledger.trace(() => `${id} refreshed (${source}, ${trigger})`));
      authFetch.on('refreshFailed', ({ failure, willRetry }) =>
        ledger.trace(() => `${id} refresh failed: ${failure.kind} ${failure.reason}${willRetry ? ', will retry' : ''}`),
      );
      authFetch.on('warning', ({ error }) => ledger.trace(() => `${id} warning ${error.code}`));
      authFetch.on('loggedOut', ({ reason }) => ledger.trace(() => `${id} logged out: ${reason}`));
      group.sessions.push(session);
    }
    return group;
  });
}
