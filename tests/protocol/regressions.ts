/**
 * The defects found by the explorer, each in a focused family of scenarios on the code as it
 * was (`foundOn`: edef4ce, then 063be54), shrunk, and kept as a named regression: its scenario
 * and schedule replay the failing interleaving; `failure` is what the explorer reported then.
 */
import { fileURLToPath } from 'node:url';
import type fc from 'fast-check';
import * as families from './families.js';
import type { WorldSpec } from './scenario.js';

export interface Regression {
  title: string;
  family: string;
  /** How the explorer found it: fast-check seed and path, and how many interleavings it took. */
  found: { seed: number; path: string; interleavings: number };
  spec: WorldSpec;
  choices: number[];
  /** The commit whose code the explorer found it on. */
  foundOn: string;
  /** The commit that fixed it (absent while it is open: known-defects.ts). */
  fixedBy?: string;
  /** The violations reported on the code where it was found. */
  failure: string[];
  trace: string[];
}

export const REGRESSIONS_FILE = fileURLToPath(new URL('./regressions.json', import.meta.url));

const family = (familyName: keyof typeof families, title: string, strictClockRule = false) => ({
  title,
  // biome-ignore lint/performance/noDynamicNamespaceImportAccess: a family is picked by the name regressions.json stores; test code, never bundled
  family: families[familyName] as fc.Arbitrary<WorldSpec>,
  familyName,
  strictClockRule,
});

/** Each regression: the family of scenarios where the explorer looks for it. */
export const REGRESSION_FAMILIES = {
  'push-during-refresh': family('pushDuringRefresh', 'a token pushed with updateTokens() during a refresh loses the rotated refresh token'),
  'eviction-mid-refresh': family('evictionMidRefresh', 'a session evicted at maxSessions during its token call loses the rotated refresh token'),
  'manager-login-racing-load': family('managerLoginRacingLoad', 'login(id) racing a load of the same id: the manager keeps serving the previous sign-in'),
  'manager-logout-racing-load': family('managerLogoutRacingLoad', 'logout(id) racing a load of the same id: the manager keeps serving the signed-out session'),
  'frozen-lock-holder': family('frozenLockHolder', "a tab frozen while it holds the lock stalls the other tabs' requests until they fail"),
  'hung-store-mid-refresh': family('hungStoreMidRefresh', 'a store read that never answers during a refresh wedges the session for good'),
  'hung-store-sign-in': family('hungStoreSignIn', 'a store call that never answers leaves login(), logout() or the first read pending forever'),
  'loser-clears-store': family('loserClearsStore', 'the loser of a race with a sign-out and a sign-in clears the store and signs the new session out'),
  'born-expired': family('bornExpired', "tokens born expired (a clock ahead of the server's) loop proactive refreshes"),
  'nearly-expired-storm': family('nearlyExpired', "a clock ahead of the server's by most of a lifetime makes a storm of token calls"),
  'idle-refresh': family('idleSessions', 'an idle session refreshes every half lifetime forever (token calls with no request)', true),
  'store-write-throws': family('storeWriteThrows', 'a store write that throws discards the rotated tokens, and the retry presents the old refresh token'),
  'logout-racing-dispose': family('signInRacingDispose', 'logout() then dispose() before the first store read resolves, and nobody is signed out'),
  // Found on 063be54, the code with the fixes of issue 10.
  'load-evicted-by-its-own-bound': family(
    'loadPastTheBound',
    'at maxSessions with every other slot mid-refresh, a load evicts the session it just loaded and its request fails with DISPOSED',
  ),
  'manager-store-unbounded': family(
    'managerStoreHang',
    "the manager's own store calls (load, login(id), logout(id)) have no bound: a store that never answers leaves the id's requests pending forever",
  ),
  'login-then-logout': family(
    'signInSignOutInOneTab',
    'login() then logout() without waiting: the session ends signed in with the store empty (or the store cleared after the new sign-in)',
  ),
  'push-merges-previous-sign-in': family(
    'pushAfterUnsavedSignIn',
    "a push while a sign-in's write is owed merges with the previous sign-in's refresh token from the store, and its write replaces the new sign-in",
  ),
  'owed-write-over-newer-sign-in': family('signInAfterUnsavedSignIn', 'a sign-in whose write failed is written later over a newer sign-in that was stored'),
  'owed-rotation-lost-to-push': family(
    'pushDuringOwedRotation',
    "rotated tokens whose write failed give up to another tab's push stored with the refresh token they replaced: the next refresh is a reuse",
  ),
  'stale-read-after-logout': family(
    'signOutWhileFollowing',
    "a read a change notification asked for, answered after the tab's own logout(), signs it in again with the other tab's sign-in",
  ),
  'push-into-empty-store': family(
    'pushRacingSignOut',
    "a push that lost its compare-and-set to another tab's logout writes into the empty store and signs every tab in again",
  ),
  'owed-sign-in-over-sign-out': family(
    'owedSignInVsSignOut',
    "a sign-in whose write failed is retried after another tab's later sign-out, which its tab missed: the user ends signed in",
  ),
} as const;
