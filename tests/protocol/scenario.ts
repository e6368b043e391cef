/**
 * Scenarios of the protocol explorer: who is in the world (tabs or server instances), the
 * server, the clocks, and what happens when (user actions and faults). A scenario plus a
 * list of scheduling choices is one interleaving; both are generated, shrunk and printed
 * by fast-check.
 */
import fc from 'fast-check';

export type PartyAction = 'request' | 'getToken' | 'refresh' | 'push' | 'login' | 'logout' | 'dispose' | 'die' | 'storeHang' | 'storeThrows' | 'dropNotify';

export type TokenFault = 'unavailable' | 'rateLimited' | 'reset' | 'lostResponse' | 'hang' | 'stall';

/**
 * Where a freeze lands when it is armed rather than timed: right after the party's next lock
 * grant, after its next store read reached the store (its answer then comes late, and
 * stale), or after its next token call reached the server (its answer held).
 */
export type FreezePoint = 'lock' | 'read' | 'call';

export type Action =
  | { at: number; type: PartyAction; party: number }
  | { at: number; type: 'freeze'; party: number; ms: number; on?: FreezePoint }
  | { at: number; type: 'jump'; party: number; ms: number }
  | { at: number; type: 'tokenFault'; fault: TokenFault }
  | { at: number; type: 'mGet' | 'mLogin' | 'mLogout'; party: number; id: number };

export interface WorldSpec {
  /** Browser tabs sharing a store and a lock, or server instances with a session manager each. */
  kind: 'tabs' | 'manager';
  /** Tabs (sessions) or server instances. */
  parties: number;
  /** Manager: user session ids. */
  ids: number;
  /** Manager: `maxSessions`. */
  maxSessions: number;
  ttlSeconds: number;
  /** A server with a reuse grace period (30 s) instead of a strict one. */
  grace: boolean;
  /** How a refresher reports expiry: `expires_in`, or an absolute time on the server's clock. */
  expiry: 'expiresIn' | 'serverClock';
  /** Each party's clock: offset from the server's and drift (parts per million). */
  clocks: { offsetMs: number; driftPpm: number }[];
  lock: boolean;
  /** A dead party's lock: released (Web Locks) or kept until its hold bound (leases, Redis). */
  lockOnDeath: 'released' | 'kept';
  /** Port-level mutant: the lock without a hold bound. */
  holdBound: 'default' | 'none';
  /** Port-level mutant: a store whose compare-and-set ignores the version. */
  storeCas: 'faithful' | 'ignored';
  /** Latency bounds (ms): the scheduler delivers within them, in any order it chooses. */
  latency: { net: number; store: number; lock: number; notify: number };
  horizonMs: number;
  /** No request of any kind: the clock rule (token calls per lifetime) applies. */
  idle: boolean;
  /**
   * The clock rule's allowance of token calls per lifetime with no request: 1; 2 while the
   * half-lifetime proactive refresh of idle sessions is a known defect (loops still fail).
   */
  refreshesPerLifetime: number;
  /** Clocks agree and nobody forces a refresh: a second refresh of a young token is a herd. */
  herdCheck: boolean;
  actions: Action[];
}

const REQUEST_LIKE = new Set(['request', 'getToken', 'refresh', 'push', 'mGet']);

/** Derive the flags that say which invariants apply to a scenario. */
export function finalize(spec: Omit<WorldSpec, 'idle' | 'herdCheck'> & Partial<Pick<WorldSpec, 'idle' | 'herdCheck'>>): WorldSpec {
  const actions = [...spec.actions].sort((a, b) => a.at - b.at);
  const idle = !actions.some((a) => REQUEST_LIKE.has(a.type));
  const clocksAgree = spec.clocks.every((c) => c.offsetMs === 0 && c.driftPpm === 0) && !actions.some((a) => a.type === 'jump');
  const herdCheck = clocksAgree && !actions.some((a) => a.type === 'refresh' || a.type === 'push' || a.type === 'login' || a.type === 'mLogin');
  return { ...spec, actions, idle, herdCheck };
}

/** The base of every scenario; arbitraries and regressions override parts of it. */
export function baseSpec(overrides: Partial<WorldSpec> = {}): WorldSpec {
  return finalize({
    kind: 'tabs',
    parties: 2,
    ids: 1,
    maxSessions: 10,
    ttlSeconds: 60,
    grace: false,
    expiry: 'expiresIn',
    clocks: [],
    lock: true,
    lockOnDeath: 'released',
    holdBound: 'default',
    storeCas: 'faithful',
    latency: { net: 300, store: 50, lock: 20, notify: 200 },
    horizonMs: 60_000,
    refreshesPerLifetime: 1,
    actions: [],
    ...overrides,
  });
}

/** What the random exploration may generate; features of known defects can be withheld. */
export interface Features {
  push: boolean;
  freeze: boolean;
  storeHang: boolean;
  storeThrows: boolean;
  /** login after a logout (a new sign-in racing an old refresh). */
  relogin: boolean;
  /** Clocks that disagree with the server's by more than a token lifetime, with absolute expiries. */
  bornExpired: boolean;
  /** The strict clock rule (one token call per lifetime with no request); without it, two (half-lifetime proactive refreshes). */
  longIdle: boolean;
  /** Manager: fewer slots than user sessions (eviction). */
  eviction: boolean;
  /** Manager: login/logout of an id. */
  managerSignIn: boolean;
  /** A dead party's lock is kept until its hold bound (a lease), not released (a Web Lock). */
  leaseDeath: boolean;
  /** dispose() of a tab right after its own login() or logout(). */
  disposeRace: boolean;
  /** A logout() in one tab after a login() in another whose store write may fail (its retry owed). */
  signOutAfterFailedSignIn: boolean;
}

export const ALL_FEATURES: Features = {
  push: true,
  freeze: true,
  storeHang: true,
  storeThrows: true,
  relogin: true,
  bornExpired: true,
  longIdle: true,
  eviction: true,
  managerSignIn: true,
  leaseDeath: true,
  disposeRace: true,
  signOutAfterFailedSignIn: true,
};

const TTLS = [10, 60, 600];

function tabsArbitrary(f: Features): fc.Arbitrary<WorldSpec> {
  return fc
    .record({
      parties: fc.integer({ min: 2, max: 4 }),
      ttlSeconds: fc.constantFrom(...TTLS),
      grace: fc.boolean(),
      expiry: f.bornExpired ? fc.constantFrom<'expiresIn' | 'serverClock'>('expiresIn', 'serverClock') : fc.constant<'expiresIn'>('expiresIn'),
      skew: fc.oneof(
        { weight: 3, arbitrary: fc.constant(null) },
        {
          weight: 1,
          arbitrary: fc.array(fc.record({ offsetMs: fc.integer({ min: -120_000, max: 120_000 }), driftPpm: fc.integer({ min: -2_000, max: 2_000 }) }), {
            minLength: 4,
            maxLength: 4,
          }),
        },
      ),
      lockOnDeath: f.leaseDeath ? fc.constantFrom<'released' | 'kept'>('released', 'kept') : fc.constant<'released'>('released'),
      idle: fc.boolean(),
      horizonFactor: fc.double({ min: 0.3, max: 3, noNaN: true }),
      actions: fc.array(tabAction(f), { maxLength: 14 }),
    })
    .map(({ parties, ttlSeconds, grace, expiry, skew, lockOnDeath, idle, horizonFactor, actions }) => {
      const lifetime = ttlSeconds * 1000;
      const horizonMs = Math.round(Math.min(120_000, Math.max(5_000, lifetime * horizonFactor)));

      let clocks = skew ?? [];
      // Born expired (or nearly): a clock far ahead of the server's with an absolute expiry.
      if (!f.bornExpired) clocks = clocks.map((c) => ({ offsetMs: Math.max(-lifetime / 4, Math.min(lifetime / 4, c.offsetMs)), driftPpm: c.driftPpm }));
      let kept = actions.map((a) => ({ ...a, at: Math.round(a.at * horizonMs) })).filter((a) => !idle || !REQUEST_LIKE.has(a.type)) as Action[];
      if (!f.relogin) {
        const firstLogout = kept.find((a) => a.type === 'logout')?.at;
        if (firstLogout !== undefined) kept = kept.filter((a) => !(a.type === 'login' && a.at >= firstLogout));
      }
      if (!f.bornExpired) kept = kept.filter((a) => a.type !== 'jump' || Math.abs((a as { ms: number }).ms) < lifetime / 4);
      if (!f.signOutAfterFailedSignIn) {
        // No logout after another tab's login that a store fault of that tab may have left unsaved.
        const who = (a: Action) => ('party' in a ? a.party % parties : -1);
        const risky = kept.filter(
          (a) => a.type === 'login' && kept.some((b) => (b.type === 'storeThrows' || b.type === 'storeHang') && who(b) === who(a) && b.at <= a.at),
        );
        kept = kept.filter((a) => a.type !== 'logout' || !risky.some((l) => who(l) !== who(a) && l.at <= a.at));
      }
      if (!f.disposeRace) {
        // No dispose of a tab that has a login() or logout() of its own before it.
        kept = kept.filter(
          (a) =>
            a.type !== 'dispose' ||
            !kept.some((b) => (b.type === 'login' || b.type === 'logout') && 'party' in b && b.party % parties === a.party % parties && b.at <= a.at),
        );
      }
      return baseSpec({
        kind: 'tabs',
        parties,
        ttlSeconds,
        grace,
        expiry,
        clocks,
        lockOnDeath,
        horizonMs,
        actions: kept,
        refreshesPerLifetime: f.longIdle ? 1 : 2,
      });
    });
}

/** Actions with `at` as a fraction of the horizon (scaled once the horizon is known). */
function tabAction(f: Features): fc.Arbitrary<Action> {
  const at = fc.double({ min: 0, max: 0.999, noNaN: true });
  const party = fc.integer({ min: 0, max: 3 });
  const kinds: { weight: number; arbitrary: fc.Arbitrary<Action> }[] = [
    { weight: 6, arbitrary: fc.record({ at, type: fc.constant('request' as const), party }) },
    { weight: 2, arbitrary: fc.record({ at, type: fc.constant('getToken' as const), party }) },
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('refresh' as const), party }) },
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('login' as const), party }) },
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('logout' as const), party }) },
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('dispose' as const), party }) },
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('die' as const), party }) },
    { weight: 2, arbitrary: fc.record({ at, type: fc.constant('dropNotify' as const), party }) },
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('jump' as const), party, ms: fc.integer({ min: -300_000, max: 300_000 }) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        at,
        type: fc.constant('tokenFault' as const),
        fault: fc.constantFrom<TokenFault>('unavailable', 'rateLimited', 'reset', 'lostResponse', 'hang', 'stall'),
      }),
    },
  ];
  if (f.push) kinds.push({ weight: 2, arbitrary: fc.record({ at, type: fc.constant('push' as const), party }) });
  if (f.freeze) {
    kinds.push({ weight: 1, arbitrary: fc.record({ at, type: fc.constant('freeze' as const), party, ms: fc.integer({ min: 100, max: 90_000 }) }) });
    kinds.push({
      weight: 1,
      arbitrary: fc.record({
        at,
        type: fc.constant('freeze' as const),
        party,
        ms: fc.integer({ min: 100, max: 90_000 }),
        on: fc.constantFrom<FreezePoint>('lock', 'read', 'call'),
      }),
    });
  }
  if (f.storeHang) kinds.push({ weight: 1, arbitrary: fc.record({ at, type: fc.constant('storeHang' as const), party }) });
  if (f.storeThrows) kinds.push({ weight: 1, arbitrary: fc.record({ at, type: fc.constant('storeThrows' as const), party }) });
  return fc.oneof(...kinds);
}

function managerArbitrary(f: Features): fc.Arbitrary<WorldSpec> {
  const at = fc.double({ min: 0, max: 0.999, noNaN: true });
  const party = fc.integer({ min: 0, max: 1 });
  const id = fc.integer({ min: 0, max: 2 });
  const kinds: { weight: number; arbitrary: fc.Arbitrary<Action> }[] = [
    { weight: 8, arbitrary: fc.record({ at, type: fc.constant('mGet' as const), party, id }) },
    {
      weight: 2,
      arbitrary: fc.record({
        at,
        type: fc.constant('tokenFault' as const),
        fault: fc.constantFrom<TokenFault>('unavailable', 'rateLimited', 'reset', 'lostResponse', 'stall'),
      }),
    },
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('dropNotify' as const), party }) },
    // An instance that crashes: its Redis lock expires after its TTL, its sessions are gone.
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('die' as const), party }) },
  ];
  if (f.managerSignIn) {
    kinds.push({ weight: 2, arbitrary: fc.record({ at, type: fc.constant('mLogin' as const), party, id }) });
    kinds.push({ weight: 2, arbitrary: fc.record({ at, type: fc.constant('mLogout' as const), party, id }) });
  }
  if (f.storeHang) kinds.push({ weight: 1, arbitrary: fc.record({ at, type: fc.constant('storeHang' as const), party }) });
  return fc
    .record({
      parties: fc.integer({ min: 1, max: 2 }),
      ids: fc.integer({ min: 1, max: 3 }),
      slots: fc.integer({ min: 1, max: 3 }),
      ttlSeconds: fc.constantFrom(10, 60),
      horizonFactor: fc.double({ min: 0.3, max: 2.5, noNaN: true }),
      actions: fc.array(fc.oneof(...kinds), { maxLength: 14 }),
    })
    .map(({ parties, ids, slots, ttlSeconds, horizonFactor, actions }) => {
      const horizonMs = Math.round(Math.min(120_000, Math.max(5_000, ttlSeconds * 1000 * horizonFactor)));
      const maxSessions = f.eviction ? slots : ids;
      return baseSpec({
        kind: 'manager',
        parties,
        ids,
        maxSessions,
        ttlSeconds,
        lockOnDeath: 'kept',
        horizonMs,
        refreshesPerLifetime: f.longIdle ? 1 : 2,
        actions: actions.map((a) => ({ ...a, at: Math.round(a.at * horizonMs) })),
      });
    });
}

/** Random scenarios: tabs mostly, server instances sometimes. */
export function scenarioArbitrary(features: Features = ALL_FEATURES): fc.Arbitrary<WorldSpec> {
  return fc.oneof({ weight: 3, arbitrary: tabsArbitrary(features) }, { weight: 1, arbitrary: managerArbitrary(features) });
}

/** Scheduling choices: each picks among the pending events (0 = the oldest, the default). */
export const choicesArbitrary: fc.Arbitrary<number[]> = fc.array(fc.nat({ max: 1_000 }), { maxLength: 300 });
