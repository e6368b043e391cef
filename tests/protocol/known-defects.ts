/**
 * Defects the explorer reproduces on this branch and that are not fixed here yet. Each name
 * is a regression in regressions.json: while it is listed, its regression test checks that
 * the recorded failure still reproduces, and the random exploration withholds the features
 * that trigger it (so that it keeps looking for something else). When a fix lands, that test
 * fails ("no longer reproduces"), and the name must be removed from this list: from then on
 * the regression must keep every invariant and the exploration uses every feature again.
 */
import { ALL_FEATURES, type Features, type WorldSpec } from './scenario.js';

export const KNOWN_DEFECTS = new Set<string>(['owed-sign-in-over-sign-out']);

/** Which scenario features trigger each known defect. */
const TRIGGERS: Record<string, (keyof Features)[]> = {
  'push-during-refresh': ['push'],
  'eviction-mid-refresh': ['eviction'],
  'manager-login-racing-load': ['managerSignIn'],
  'manager-logout-racing-load': ['managerSignIn'],
  'frozen-lock-holder': ['freeze', 'leaseDeath'],
  'hung-store-mid-refresh': ['storeHang'],
  'hung-store-sign-in': ['storeHang'],
  'loser-clears-store': ['relogin'],
  'born-expired': ['bornExpired'],
  'nearly-expired-storm': ['bornExpired'],
  'idle-refresh': ['longIdle'],
  'store-write-throws': ['storeThrows'],
  'logout-racing-dispose': ['disposeRace'],
  'owed-sign-in-over-sign-out': ['signOutAfterFailedSignIn'],
};

/** The features the random exploration may use on this branch. */
export function explorableFeatures(known: ReadonlySet<string> = KNOWN_DEFECTS): Features {
  const features = { ...ALL_FEATURES };
  for (const name of known) for (const feature of TRIGGERS[name] ?? []) features[feature] = false;
  return features;
}

/** The features withheld, for the report. */
export function withheldFeatures(known: ReadonlySet<string> = KNOWN_DEFECTS): string[] {
  return [...new Set([...known].flatMap((name) => TRIGGERS[name] ?? []))];
}

/** A focused family's scenario, adjusted to what is known: the clock rule allows half-lifetime refreshes while that defect is open. */
export function gated(spec: WorldSpec, known: ReadonlySet<string> = KNOWN_DEFECTS): WorldSpec {
  return known.has('idle-refresh') ? { ...spec, refreshesPerLifetime: 2 } : spec;
}
