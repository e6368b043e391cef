/**
 * Focused scenario families: the random exploration narrowed to the situations where the
 * defects of this round live (a push racing a refresh, an eviction during a token call, …).
 * The explorer finds each defect in its family, shrinks it, and the shrunk interleaving is
 * kept as a named regression (regressions.ts). The families also drive the mutant checks.
 */
import fc from 'fast-check';
import { baseSpec, type FreezePoint, type WorldSpec } from './scenario.js';

const near = (t: number, spread: number) => fc.integer({ min: Math.max(0, t - spread), max: t + spread });

/** A pushed access token (updateTokens) lands while a refresh is in flight. */
export const pushDuringRefresh: fc.Arbitrary<WorldSpec> = fc
  .record({ parties: fc.integer({ min: 1, max: 2 }), refreshAt: near(1_000, 500), pushAt: near(1_000, 800), pushParty: fc.integer({ min: 0, max: 1 }) })
  .map(({ parties, refreshAt, pushAt, pushParty }) =>
    baseSpec({
      parties,
      horizonMs: 5_000,
      actions: [
        { at: refreshAt, type: 'refresh', party: 0 },
        { at: pushAt, type: 'push', party: pushParty % parties },
      ],
    }),
  );

/** A server instance at maxSessions loads another user while a session's token call is under way. */
export const evictionMidRefresh: fc.Arbitrary<WorldSpec> = fc.record({ loadAt: near(5_000, 400), again: near(12_000, 3_000) }).map(({ loadAt, again }) =>
  baseSpec({
    kind: 'manager',
    parties: 1,
    ids: 2,
    maxSessions: 1,
    ttlSeconds: 10,
    lockOnDeath: 'kept',
    horizonMs: 20_000,
    actions: [
      { at: 0, type: 'mGet', party: 0, id: 0 },
      { at: loadAt, type: 'mGet', party: 0, id: 1 },
      { at: again, type: 'mGet', party: 0, id: 0 },
    ],
  }),
);

/** login(id) or logout(id) on an instance while a request of the same id is loading it. */
const signInRacingLoad = (kind: 'mLogin' | 'mLogout') =>
  fc.record({ at: fc.integer({ min: 0, max: 60 }), later: fc.integer({ min: 100, max: 2_000 }) }).map(({ at, later }) =>
    baseSpec({
      kind: 'manager',
      parties: 1,
      ids: 1,
      maxSessions: 10,
      lockOnDeath: 'kept',
      horizonMs: 5_000,
      actions: [
        { at: 0, type: 'mGet', party: 0, id: 0 },
        { at, type: kind, party: 0, id: 0 },
        { at: at + later, type: 'mGet', party: 0, id: 0 },
      ],
    }),
  );
export const managerLoginRacingLoad: fc.Arbitrary<WorldSpec> = signInRacingLoad('mLogin');
export const managerLogoutRacingLoad: fc.Arbitrary<WorldSpec> = signInRacingLoad('mLogout');

/**
 * A tab freezes while it holds the refresh lock (its own request found the token expired);
 * the other tabs need a token while it is frozen.
 */
export const frozenLockHolder: fc.Arbitrary<WorldSpec> = fc
  .record({
    parties: fc.integer({ min: 2, max: 3 }),
    // Armed for a point of its refresh (after the lock grant, its read, its token call), or timed.
    on: fc.constantFrom<FreezePoint | null>('lock', 'read', 'call', null),
    freezeAt: fc.integer({ min: 60_050, max: 60_700 }),
    frozenMs: fc.integer({ min: 40_000, max: 120_000 }),
    requestAt: near(61_200, 700),
  })
  .map(({ parties, on, freezeAt, frozenMs, requestAt }) =>
    baseSpec({
      parties,
      horizonMs: 120_000,
      actions: [
        on ? { at: 60_000, type: 'freeze', party: 0, ms: frozenMs, on } : { at: freezeAt, type: 'freeze', party: 0, ms: frozenMs },
        { at: 60_050, type: 'request', party: 0 },
        { at: requestAt, type: 'request', party: 1 },
        { at: requestAt + 50, type: 'request', party: parties - 1 },
      ],
    }),
  );

/** The double-check read of a refresh never answers (the proactive refresh, half a lifetime in). */
export const hungStoreMidRefresh: fc.Arbitrary<WorldSpec> = fc
  .record({ hangAt: fc.integer({ min: 29_000, max: 30_000 }), requestAt: fc.integer({ min: 30_000, max: 31_000 }) })
  .map(({ hangAt, requestAt }) =>
    baseSpec({
      parties: 1,
      horizonMs: 40_000,
      actions: [
        { at: hangAt, type: 'storeHang', party: 0 },
        { at: requestAt, type: 'request', party: 0 },
      ],
    }),
  );

/** One store call never answers at start or around a sign-in or sign-out. */
export const hungStoreSignIn: fc.Arbitrary<WorldSpec> = fc
  .record({
    at: fc.integer({ min: 0, max: 2_000 }),
    next: fc.constantFrom<'getToken' | 'logout' | 'login'>('getToken', 'logout', 'login'),
    nextAt: fc.integer({ min: 0, max: 2_000 }),
  })
  .map(({ at, next, nextAt }) =>
    baseSpec({
      parties: 2,
      horizonMs: 70_000,
      actions: [
        { at, type: 'storeHang', party: 0 },
        { at: nextAt, type: next, party: 0 },
      ],
    }),
  );

/** A tab refreshes while the user signs out and in again in another tab. */
export const loserClearsStore: fc.Arbitrary<WorldSpec> = fc
  .record({ logoutAt: fc.integer({ min: 1_000, max: 1_800 }), loginAfter: fc.integer({ min: 0, max: 400 }), lost: fc.boolean() })
  .map(({ logoutAt, loginAfter, lost }) =>
    baseSpec({
      parties: 2,
      horizonMs: 5_000,
      actions: [
        ...(lost ? [{ at: 0, type: 'dropNotify' as const, party: 1 }] : []),
        { at: 1_000, type: 'refresh', party: 1 },
        { at: logoutAt, type: 'logout', party: 0 },
        { at: logoutAt + loginAfter, type: 'login', party: 0 },
      ],
    }),
  );

/**
 * A clock ahead of the server's by more than a lifetime, with expiries on the server's clock:
 * tokens born expired. Sometimes in use (a request arms the proactive timer), sometimes idle.
 */
export const bornExpired: fc.Arbitrary<WorldSpec> = fc
  .record({
    parties: fc.integer({ min: 1, max: 2 }),
    ttlSeconds: fc.constantFrom(10, 60, 600),
    ahead: fc.double({ min: 1.01, max: 3, noNaN: true }),
    used: fc.option(fc.integer({ min: 0, max: 2_000 })),
  })
  .map(({ parties, ttlSeconds, ahead, used }) =>
    baseSpec({
      parties,
      ttlSeconds,
      expiry: 'serverClock',
      clocks: [{ offsetMs: Math.round(ttlSeconds * 1000 * ahead), driftPpm: 0 }],
      horizonMs: 10_000,
      actions: used === null ? [] : [{ at: used, type: 'request', party: 0 }],
    }),
  );

/** A clock ahead of the server's by most of a lifetime, expiries on the server's clock, and some use. */
export const nearlyExpired: fc.Arbitrary<WorldSpec> = fc
  .record({ ttlSeconds: fc.constantFrom(10, 60), ahead: fc.double({ min: 0.6, max: 0.99, noNaN: true }), requestAt: fc.integer({ min: 0, max: 5_000 }) })
  .map(({ ttlSeconds, ahead, requestAt }) =>
    baseSpec({
      parties: 2,
      ttlSeconds,
      expiry: 'serverClock',
      clocks: [{ offsetMs: Math.round(ttlSeconds * 1000 * ahead), driftPpm: 0 }],
      horizonMs: 20_000,
      actions: [{ at: requestAt, type: 'request', party: 0 }],
    }),
  );

/** Idle tabs, no request at all, for several lifetimes. */
export const idleSessions: fc.Arbitrary<WorldSpec> = fc
  .record({ parties: fc.integer({ min: 1, max: 3 }), ttlSeconds: fc.constantFrom(10, 60), lifetimes: fc.integer({ min: 2, max: 4 }) })
  .map(({ parties, ttlSeconds, lifetimes }) => baseSpec({ parties, ttlSeconds, horizonMs: ttlSeconds * 1000 * lifetimes, actions: [] }));

/** A store write throws (quota exceeded, Safari private mode) around a refresh or a push. */
export const storeWriteThrows: fc.Arbitrary<WorldSpec> = fc
  .record({
    at: fc.integer({ min: 0, max: 31_000 }),
    next: fc.constantFrom<'refresh' | 'push' | 'login'>('refresh', 'push', 'login'),
    nextAt: fc.integer({ min: 0, max: 31_000 }),
  })
  .map(({ at, next, nextAt }) =>
    baseSpec({
      parties: 2,
      horizonMs: 40_000,
      actions: [
        { at, type: 'storeThrows', party: 0 },
        { at: nextAt, type: next, party: 0 },
      ],
    }),
  );

/** logout() or login() racing dispose() of the same tab. */
export const signInRacingDispose: fc.Arbitrary<WorldSpec> = fc
  .record({
    kind: fc.constantFrom<'logout' | 'login'>('logout', 'login'),
    at: fc.integer({ min: 0, max: 100 }),
    disposeAfter: fc.integer({ min: 0, max: 100 }),
  })
  .map(({ kind, at, disposeAfter }) =>
    baseSpec({
      parties: 2,
      horizonMs: 5_000,
      actions: [
        { at, type: kind, party: 0 },
        { at: at + disposeAfter, type: 'dispose', party: 0 },
      ],
    }),
  );

/** Several tabs see an expired token together (the herd), with a fault or two at the token endpoint. */
export const herd: fc.Arbitrary<WorldSpec> = fc
  .record({
    parties: fc.integer({ min: 2, max: 4 }),
    requests: fc.array(fc.record({ party: fc.integer({ min: 0, max: 3 }), at: near(61_000, 1_000) }), { minLength: 2, maxLength: 6 }),
    faults: fc.array(fc.record({ at: near(61_000, 1_000), fault: fc.constantFrom('unavailable' as const, 'reset' as const, 'rateLimited' as const) }), {
      maxLength: 1,
    }),
  })
  .map(({ parties, requests, faults }) =>
    baseSpec({
      parties,
      horizonMs: 70_000,
      actions: [
        ...requests.map((r) => ({ at: r.at, type: 'request' as const, party: r.party % parties })),
        ...faults.map((f) => ({ at: f.at, type: 'tokenFault' as const, fault: f.fault })),
      ],
    }),
  );

/** The user signs out in one tab while another tab's refresh is under way. */
export const signOutDuringRefresh: fc.Arbitrary<WorldSpec> = fc
  .record({ parties: fc.integer({ min: 2, max: 3 }), logoutAt: fc.integer({ min: 1_000, max: 1_900 }) })
  .map(({ parties, logoutAt }) =>
    baseSpec({
      parties,
      horizonMs: 5_000,
      actions: [
        { at: 1_000, type: 'refresh', party: 1 },
        { at: logoutAt, type: 'logout', party: 0 },
      ],
    }),
  );

/**
 * The user signs in (again, as someone else) in one tab while another tab's token call is in
 * flight; the store and its notifications are quick, the token endpoint slow.
 */
export const signInDuringRefresh: fc.Arbitrary<WorldSpec> = fc
  .record({ parties: fc.integer({ min: 2, max: 3 }), loginAt: fc.integer({ min: 1_000, max: 1_500 }) })
  .map(({ parties, loginAt }) =>
    baseSpec({
      parties,
      latency: { net: 600, store: 10, lock: 10, notify: 20 },
      horizonMs: 5_000,
      actions: [
        { at: 1_000, type: 'refresh', party: 1 },
        { at: loginAt, type: 'login', party: 0 },
        { at: 4_000, type: 'request', party: 1 },
      ],
    }),
  );

/**
 * A tab dies while it holds the lock for its proactive refresh (it is in use, and its clock a
 * little ahead, so it goes first); its lease is not released: only the lock's liveness check
 * (a holder silent for `staleMs`) or its hold bound frees it.
 */
export const deadHolder: fc.Arbitrary<WorldSpec> = fc
  .record({ parties: fc.integer({ min: 2, max: 3 }), dieAt: fc.integer({ min: 29_830, max: 30_400 }) })
  .map(({ parties, dieAt }) =>
    baseSpec({
      parties,
      clocks: [{ offsetMs: 200, driftPpm: 0 }],
      lockOnDeath: 'kept',
      horizonMs: 40_000,
      actions: [
        { at: 1_000, type: 'getToken', party: 0 },
        { at: dieAt, type: 'die', party: 0 },
      ],
    }),
  );

/**
 * Whether a run met its family's situation (the defect's circumstances), read from its
 * trace: a family whose interleavings never meet it guards nothing. Families without one
 * (idle tabs, clocks) are about what happens over time, in every run.
 */
export const WITNESSES: Record<string, (trace: string[]) => boolean> = {
  pushDuringRefresh: (t) => between(t, /s0 lock granted$/, /store\.set\(push/, /s0 lock released$/),
  evictionMidRefresh: (t) => between(t, /m0 lock granted \(u0\)$/, /▶ mGet 0 id=1$/, /m0 lock released \(u0\)$/),
  managerLoginRacingLoad: (t) => between(t, /▶ mGet 0 id=0$/, /▶ mLogin/, /m0 store\.get\(u0\) answer$/),
  managerLogoutRacingLoad: (t) => between(t, /▶ mGet 0 id=0$/, /▶ mLogout/, /m0 store\.get\(u0\) answer$/),
  frozenLockHolder: (t) => between(t, /s0 lock granted$/, /s0 freezes/, /s0 lock released$/),
  hungStoreMidRefresh: (t) => between(t, /s0 lock granted$/, /s0 store\.get hangs/, /s0 lock released$/),
  hungStoreSignIn: (t) => t.some((line) => /hangs \(never answers\)/.test(line)),
  loserClearsStore: (t) => between(t, /s1 lock granted$/, /s0 store\.clear/, /s1 lock released$/),
  bornExpired: (t) => t.some((line) => /▶ request 0/.test(line)),
  storeWriteThrows: (t) => t.some((line) => /throws QuotaExceededError/.test(line)),
  signInRacingDispose: (t) => between(t, /▶ (logout|login) 0/, /▶ dispose 0/, /s0 (logout\(\)|login\(F\d+\)) #\d+ (ok|failed)/),
  deadHolder: (t) => between(t, /s0 lock granted$/, /s0 dies$/, /s0 lock released$/),
  signOutDuringRefresh: (t) => between(t, /s1 lock granted$/, /s0 store\.clear/, /s1 lock released$/),
  signInDuringRefresh: (t) => between(t, /s1 token call #\d+ \(F1\.r\d+\) reaches/, /s0 store\.set\(F2/, /s1 token call #\d+ answer/),
  loadPastTheBound: (t) => between(t, /m0 lock granted \(u0\)$/, /m0 store\.get\(u1\) answer$/, /m0 lock released \(u0\)$/),
  managerStoreHang: (t) => t.some((line) => /hangs \(never answers\)/.test(line)),
  signInSignOutInOneTab: (t) => {
    // The second call is made before the first one settled.
    const calls = t.flatMap((line, i) => (/▶ (login|logout) 0/.test(line) ? [i] : []));
    const settled = t.findIndex((line) => /s0 (logout\(\)|login\(F\d+\)) #\d+ (ok|failed)/.test(line));
    return calls.length >= 2 && (settled === -1 || calls[1]! < settled);
  },
  pushAfterUnsavedSignIn: (t) => between(t, /s0 store\.set\(F2\.a0, F2\.r0\).* (throws|hangs)/, /▶ push 0/, /s0 store\.set\(F2\.a0, F2\.r0\) answer$/),
  signInAfterUnsavedSignIn: (t) =>
    between(t, /(s0|m0) store\.set\(F2\.a0, F2\.r0\).* (throws|hangs)/, /▶ (login 0|mLogin 0)/, /(s0|m0) store\.set\(F2\.a0, F2\.r0\)(\(u0\))? answer$/),
  pushRacingSignOut: (t) => between(t, /s0 store\.get reaches the store$/, /s1 store\.clear/, /s0 store\.set\(push/),
  pushDuringOwedRotation: (t) => {
    // The other tab's push lands after the rotated tokens' write failed and before it is retried.
    const failed = t.findIndex((line) => /s0 store\.set\(F1\.a1, F1\.r1, if v1\) (throws|hangs)/.test(line));
    const pushed = t.findIndex((line, i) => i > failed && /s1 store\.set\(push1/.test(line));
    const retried = t.findIndex((line, i) => i > failed && /s0 store\.set\(F1\.a1, F1\.r1.* reaches the store$/.test(line));
    return failed >= 0 && pushed > failed && (retried === -1 || pushed < retried);
  },
  signOutWhileFollowing: (t) => between(t, /s1 notified: store changed$/, /s1 logged out \(logout\)/, /s1 store\.get answer$/),
  owedSignInVsSignOut: (t) => between(t, /s0 store\.set\(F2\.a0, F2\.r0\) throws/, /s1 store\.clear/, /s0 store\.set\(F2\.a0, F2\.r0\) reaches the store$/),
};

/** A line matching `event` after one matching `start`, with no line matching `end` in between. */
function between(trace: string[], start: RegExp, event: RegExp, end: RegExp): boolean {
  let open = false;
  for (const line of trace) {
    if (start.test(line)) open = true;
    else if (open && end.test(line)) open = false;
    else if (open && event.test(line)) return true;
  }
  return false;
}

// ── Families of the defects found on 063be54 (the fixed code of issue 10) ─────────────────

/** A server instance loads a user while its only slot is busy with another user's refresh. */
export const loadPastTheBound: fc.Arbitrary<WorldSpec> = evictionMidRefresh;

/** A manager's store stops answering around login(id), logout(id) and a request of that id. */
export const managerStoreHang: fc.Arbitrary<WorldSpec> = fc
  .record({
    hangAt: fc.integer({ min: 0, max: 200 }),
    first: fc.constantFrom<'mLogin' | 'mLogout' | 'mGet'>('mLogin', 'mLogout', 'mGet'),
    firstAt: fc.integer({ min: 0, max: 200 }),
    thenAt: fc.integer({ min: 0, max: 2_000 }),
  })
  .map(({ hangAt, first, firstAt, thenAt }) =>
    baseSpec({
      kind: 'manager',
      parties: 1,
      ids: 1,
      maxSessions: 10,
      lockOnDeath: 'kept',
      horizonMs: 70_000,
      actions: [
        { at: hangAt, type: 'storeHang', party: 0 },
        { at: firstAt, type: first, party: 0, id: 0 },
        { at: firstAt + thenAt, type: 'mGet', party: 0, id: 0 },
      ],
    }),
  );

/** login() and logout() in one tab, one right after the other (not awaited), in either order, at start or later. */
export const signInSignOutInOneTab: fc.Arbitrary<WorldSpec> = fc
  .record({
    order: fc.constantFrom<['login', 'logout'] | ['logout', 'login']>(['login', 'logout'], ['logout', 'login']),
    at: fc.constantFrom(0, 1_000),
    gap: fc.integer({ min: 0, max: 60 }),
  })
  .map(({ order, at, gap }) =>
    baseSpec({
      parties: 2,
      horizonMs: 5_000,
      actions: [
        { at, type: order[0], party: 0 },
        { at: at + gap, type: order[1], party: 0 },
      ],
    }),
  );

/** A sign-in whose store write fails (held in memory, the write owed), then `then` in the same tab (or instance). */
const afterUnsavedSignIn = (then: 'push' | 'login', kinds: ('tabs' | 'manager')[]) =>
  fc
    .record({
      faults: fc.array(fc.constantFrom<'storeThrows' | 'storeHang'>('storeThrows', 'storeHang'), { minLength: 1, maxLength: 2 }),
      thenAfter: fc.integer({ min: 0, max: 8_000 }),
      kind: fc.constantFrom(...kinds),
    })
    .map(({ faults, thenAfter, kind }) =>
      kind === 'tabs'
        ? baseSpec({
            parties: 2,
            horizonMs: 20_000,
            actions: [
              // The sign-in's write fails, and perhaps the next write too.
              ...faults.map((fault) => ({ at: 1_000, type: fault, party: 0 })),
              { at: 1_000, type: 'login', party: 0 },
              { at: 1_000 + thenAfter, type: then, party: 0 },
            ],
          })
        : baseSpec({
            kind: 'manager',
            parties: 1,
            ids: 1,
            maxSessions: 10,
            lockOnDeath: 'kept',
            horizonMs: 20_000,
            actions: [
              { at: 0, type: 'mGet', party: 0, id: 0 },
              // An instance's store does not throw (Redis): its write never answers.
              { at: 1_000, type: 'storeHang', party: 0 },
              { at: 1_000, type: 'mLogin', party: 0, id: 0 },
              { at: 1_000 + thenAfter, type: 'mLogin', party: 0, id: 0 },
            ],
          }),
    );

/** A sign-in whose write failed, then a pushed access token in the same tab. */
export const pushAfterUnsavedSignIn: fc.Arbitrary<WorldSpec> = afterUnsavedSignIn('push', ['tabs']);
/** A sign-in whose write failed, then another sign-in (a tab, or a server instance with the session in memory). */
export const signInAfterUnsavedSignIn: fc.Arbitrary<WorldSpec> = afterUnsavedSignIn('login', ['tabs', 'manager']);

/** A push in one tab while another tab signs out. */
export const pushRacingSignOut: fc.Arbitrary<WorldSpec> = fc
  .record({ pushAt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 200 })), logoutAt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 200 })) })
  .map(({ pushAt, logoutAt }) =>
    baseSpec({
      parties: 2,
      // Long-lived tokens: a session signed in again by mistake is still there when the
      // world is checked (a short one would have expired and ended by itself).
      ttlSeconds: 600,
      horizonMs: 5_000,
      actions: [
        { at: pushAt, type: 'push', party: 0 },
        { at: logoutAt, type: 'logout', party: 1 },
      ],
    }),
  );

/**
 * A sign-in in one tab whose store write fails (its retry owed), a sign-out in another tab
 * just after, and the first tab misses that sign-out (its notification lost or its read hung).
 */
export const owedSignInVsSignOut: fc.Arbitrary<WorldSpec> = fc
  .record({ miss: fc.constantFrom<'dropNotify' | 'storeHang'>('dropNotify', 'storeHang'), logoutAfter: fc.integer({ min: 1, max: 800 }) })
  .map(({ miss, logoutAfter }) =>
    baseSpec({
      parties: 2,
      horizonMs: 10_000,
      actions: [
        { at: 0, type: 'storeThrows', party: 0 },
        { at: 0, type: 'login', party: 0 },
        { at: 0, type: miss, party: 0 },
        { at: logoutAfter, type: 'logout', party: 1 },
      ],
    }),
  );

/**
 * A refresh whose store write fails (the rotated tokens held, their write owed), then another
 * tab stores a pushed access token with the refresh token it knows (the rotated-away one).
 */
export const pushDuringOwedRotation: fc.Arbitrary<WorldSpec> = fc
  .record({ pushAfter: fc.integer({ min: 0, max: 2_000 }), fault: fc.constantFrom<'storeThrows' | 'storeHang'>('storeThrows', 'storeHang') })
  .map(({ pushAfter, fault }) =>
    baseSpec({
      parties: 2,
      // Long-lived tokens: a lost rotation shows up at the check, not only at the next expiry.
      ttlSeconds: 600,
      horizonMs: 10_000,
      actions: [
        { at: 1_000, type: fault, party: 0 },
        { at: 1_000, type: 'refresh', party: 0 },
        { at: 1_000 + pushAfter, type: 'push', party: 1 },
      ],
    }),
  );

/** A tab hears of another tab's sign-in and its user signs out there while it reads the store. */
export const signOutWhileFollowing: fc.Arbitrary<WorldSpec> = fc
  .record({ logoutAfter: fc.integer({ min: 0, max: 400 }), freezeMs: fc.option(fc.integer({ min: 50, max: 300 }), { nil: undefined }) })
  .map(({ logoutAfter, freezeMs }) =>
    baseSpec({
      parties: 2,
      ttlSeconds: 600,
      horizonMs: 5_000,
      actions: [
        ...(freezeMs !== undefined ? [{ at: 1_000, type: 'freeze' as const, party: 1, ms: freezeMs }] : []),
        { at: 1_000, type: 'login', party: 0 },
        { at: 1_000 + logoutAfter, type: 'logout', party: 1 },
      ],
    }),
  );
