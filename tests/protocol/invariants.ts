/**
 * The invariants, checked as the world runs: at every token call (single flight, no herd),
 * at every arrival at the token server (no reuse, the clock rule), at every logout, at every
 * token handed out or sent (fresh after sign-in), at every failed request, and after every
 * step (bounds, errors thrown in timers).
 */
import type { TokenServerReply } from '../../adapters/testing/token-server.js';
import { TUNING, type StoredTokens } from './library.js';
import {
  EXCUSE_WINDOW_MS,
  REQUEST_BOUND_MS,
  type DocumentedStep,
  type Family,
  type InvariantName,
  type Party,
  type RequestRecord,
  type Rotation,
  type TokenCall,
} from './model.js';
import type { Owner } from './scheduler.js';
import type { World } from './world.js';

/** The sign-in (token family) a token belongs to. */
export function familyOf(w: World, token: string | undefined): Family | undefined {
  if (!token) return undefined;
  return w.tokenOf.get(token)?.family ?? w.pushed.get(token)?.family;
}

/** A party got a record from the store (a read, or its own write): it counts once the step's code has run. */
export function noteSeen(w: World, party: Party, id: string, value: unknown): void {
  const record = value as StoredTokens | null | undefined;
  if (record && typeof record === 'object' && 'accessToken' in record) {
    const family = familyOf(w, record.refreshToken ?? record.accessToken);
    if (family) w.seenPending.push({ key: `${party.owner}/${id}`, version: record.version, family });
  }
}

/**
 * A token a party hands out or sends must not belong to a sign-in the store had already
 * replaced when the party read it: "newer" is the store's write order (two sign-ins racing
 * in two tabs end with whichever was written last).
 */
export function checkFresh(w: World, party: Party, id: string, token: string, what: string): void {
  const seen = w.seen.get(`${party.owner}/${id}`);
  const family = familyOf(w, token);
  if (!seen || !family || family === seen.family || family.lastStoreVersion === undefined) return;
  if (family.lastStoreVersion < seen.version) {
    violate(
      w,
      'fresh-after-sign-in',
      `${party.owner} ${what} ${w.label(token)} (sign-in ${family.name}) after it read sign-in ${seen.family.name} from the store${id === 'tabs' ? '' : ` of ${id}`}`,
    );
  }
}

export function onArrival(w: World, call: TokenCall, reply: TokenServerReply, outcome: string): void {
  const family = call.family;
  if (family) family.tokenCalls++;
  if (call.fault && family) family.faults++;
  if (call.fault) excuse(w);
  if (outcome === 'rotated' && family && reply.kind === 'json') {
    const body = reply.body as { access_token: string; refresh_token: string };
    w.name(body.access_token, family, 'at');
    const to = w.name(body.refresh_token, family, 'rt');
    family.currentRt = body.refresh_token;
    const rotation: Rotation = { family, call, at: w.sched.now, from: call.presented, to, fate: 'pending' };
    family.rotations.push(rotation);
    family.rotatedAway.set(call.presented, rotation);
    call.rotation = rotation;
  }
  if (outcome === 'reuse-detected' || outcome === 'grace') checkReuse(w, call, outcome);
  else if (outcome === 'revoked' && family && !family.revocationExplained && !family.ended) {
    violate(w, 'no-reuse', `${call.owner} presented ${call.presented} of revoked family ${family.name}`);
  } else if (outcome === 'unknown') {
    violate(w, 'no-reuse', `${call.owner} presented a refresh token the server never issued (${call.presented})`);
  }
  checkClockRule(w, family);
}

export function checkReuse(w: World, call: TokenCall, outcome: string): void {
  const family = call.family!;
  const rotation = family.rotatedAway.get(call.presented);
  const documented: DocumentedStep | null =
    rotation && rotation.fate !== 'pending' && rotation.fate !== 'delivered' && rotation.fate !== 'ABANDONED'
      ? rotation.fate
      : call.frozenInFlight && rotation && rotation.at > call.start
        ? 'FROZEN_CALL_ARRIVED_LATE'
        : rotation && w.unstored.has(rotation.to) && w.unstored.get(rotation.to) !== call.owner
          ? 'STORE_WRITE_FAILED'
          : null;
  if (documented) {
    family.documented.push(documented);
    if (outcome === 'reuse-detected') family.revocationExplained = true;
    w.sched.trace.push(`${w.sched.stamp()} (documented: ${documented} — ${call.presented} presented again, ${outcome})`);
    return;
  }
  if (family.ended) {
    if (outcome === 'reuse-detected') family.revocationExplained = true;
    return;
  }
  if (outcome === 'reuse-detected') family.revocationExplained = true;
  const why = rotation
    ? `rotated to ${rotation.to} at ${w.sched.stamp(rotation.at)} by ${rotation.call.owner}'s call #${rotation.call.n}, whose answer was ${rotation.fate === 'delivered' ? 'delivered' : rotation.fate === 'ABANDONED' ? 'abandoned by the client (no timeout, dispose or death)' : 'still on its way'}`
    : 'rotated earlier';
  violate(w, 'no-reuse', `${call.owner}'s token call #${call.n} presented ${call.presented} after its rotation (${why}); server: ${outcome}`);
}

export function violate(w: World, invariant: InvariantName, message: string): void {
  if (w.violations.length >= 10) return;
  if (w.violations.some((v) => v.invariant === invariant && v.message === message)) return;
  w.violations.push({ invariant, at: w.sched.now, message: `${w.sched.stamp()} ${message}` });
  w.sched.trace.push(`${w.sched.stamp()} ✗ ${invariant}: ${message}`);
}

export function excuse(w: World, owner: Owner | null = null): void {
  w.excuses.push({ at: w.sched.now, owner });
}

export function inFlight(w: World, family: Family): TokenCall[] {
  return w.calls.filter((c) => c.family === family && (c.state === 'sent' || c.state === 'arrived') && w.sched.isRunning(c.owner) && !c.frozenInFlight);
}

export function checkSingleFlight(w: World, call: TokenCall): void {
  if (!call.family) return;
  const flying = inFlight(w, call.family);
  if (flying.length > 1) {
    violate(
      w,
      'single-flight',
      `token calls ${flying.map((c) => `#${c.n} (${c.owner}, ${c.presented})`).join(' and ')} in flight together for family ${call.family.name}`,
    );
  }
  // The herd: a party refreshes a token another party refreshed moments ago.
  if (w.spec.herdCheck && !w.converging) {
    const rotation = call.family.rotations.find((r) => r.to === call.presented);
    if (rotation && rotation.fate === 'delivered' && rotation.call.owner !== call.owner) {
      const age = w.sched.now - rotation.at;
      const young = age < (w.spec.ttlSeconds * 1000) / 2 - TUNING.refreshTimeoutMs - 2 * w.spec.latency.net;
      if (young) {
        violate(
          w,
          'no-herd',
          `${call.owner}'s token call #${call.n} refreshes ${call.presented}, which ${rotation.call.owner} got ${Math.round(age)} ms ago (lifetime ${w.spec.ttlSeconds} s)`,
        );
      }
    }
  }
}

export function checkClockRule(w: World, family: Family | undefined): void {
  // A family ended by the user, or revoked after a documented step, owes nothing more.
  if (!family || family.ended || family.documented.length > 0 || (family.revocationExplained && isRevoked(w, family))) return;
  const lifetime = w.spec.ttlSeconds * 1000;
  // A storm: far more token calls within one lifetime than any trigger explains.
  const window = Math.max(lifetime, 1_000);
  const recent = w.calls.filter((c) => c.family === family && c.state !== 'cancelled' && w.sched.now - c.start <= window).length;
  const explained = w.excuses.filter((e) => w.sched.now - e.at <= window).length + w.forced.filter((t) => w.sched.now - t <= window).length;
  if (recent > 6 + 2 * explained) {
    violate(
      w,
      'clock-rule',
      `a refresh storm: ${recent} token calls for ${family.name} within ${window / 1000} s (lifetime ${w.spec.ttlSeconds} s, ${explained} faults or forced refreshes)`,
    );
  }
  // The clock rule holds while nobody asks for a token: until the convergence check.
  if (!w.spec.idle || w.converging) return;
  const maxDrift = Math.max(0, ...w.parties.map((p) => Math.abs(p.driftPpm)));
  const elapsed = (w.sched.now - family.birth) * (1 + maxDrift / 1e6);
  const bound = Math.floor((elapsed * w.spec.refreshesPerLifetime) / lifetime) + 1 + family.faults + w.clockJumps;
  if (family.tokenCalls > bound) {
    violate(
      w,
      'clock-rule',
      `${family.tokenCalls} token calls for ${family.name} in ${(elapsed / 1000).toFixed(1)} s with no request (lifetime ${w.spec.ttlSeconds} s, bound ${bound})`,
    );
  }
}

/** No logout while the grant is valid and reachable. */
export function onLoggedOut(w: World, party: Party, reason: string): void {
  w.sched.trace.push(`${w.sched.stamp()} ${party.owner} logged out (${reason})`);
  if (party.loggingOut) return;
  const family = w.current.get('tabs');
  if (!family || !grantAlive(w, family)) return;
  if (w.sched.now - w.lastGrantChange <= EXCUSE_WINDOW_MS) return;
  violate(
    w,
    'no-logout-while-valid',
    `${party.owner} logged out (${reason}) while ${family.name} is valid and reachable (current refresh token ${currentLabel(family)})`,
  );
}

/**
 * What became of a rotation's answer, once known: delivered to its party, lost in a
 * documented step (then a reuse of the token it replaced is expected), or abandoned.
 */
export function settleRotation(rotation: Rotation, fate: Rotation['fate']): void {
  if (rotation.fate !== 'pending') return;
  rotation.fate = fate;
  if (fate !== 'delivered' && fate !== 'ABANDONED' && fate !== 'pending') rotation.family.documented.push(fate);
}

/** The label of the refresh token the server accepts now for this family. */
export function currentLabel(family: Family): string {
  return family.rotations.at(-1)?.to ?? `${family.name}.r0`;
}

/** The family is alive at the server and its current refresh token reached the client side. */
export function grantAlive(w: World, family: Family | undefined): boolean {
  if (!family || family.ended || isRevoked(w, family)) return false;
  const last = family.rotations.at(-1);
  return !last || last.fate === 'delivered' || last.fate === 'pending' || last.fate === 'ABANDONED';
}

/** Whether the server has revoked the family (its current refresh token no longer works). */
export function isRevoked(w: World, family: Family): boolean {
  return !w.server.isAlive(family.currentRt);
}

/** Checked after every step: requests past their bound, errors thrown in timers. */
export function checkStep(w: World): void {
  for (const { key, version, family } of w.seenPending.splice(0)) {
    if ((w.seen.get(key)?.version ?? -1) < version) w.seen.set(key, { version, family });
  }
  for (const r of w.requests) {
    if (r.settled) continue;
    const party = w.parties.find((p) => p.owner === r.owner)!;
    if (party.frozenSince !== null || w.sched.isDead(r.owner)) continue;
    if (w.sched.now > r.deadline) {
      r.settled = true;
      violate(w, 'bounded', `${r.label} started at ${w.sched.stamp(r.start)} has not settled after ${REQUEST_BOUND_MS} ms`);
    }
  }
  for (const { owner, error } of w.sched.thrown.splice(0)) {
    violate(w, 'no-uncaught', `${owner}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  }
}

/** Manager: a token served after a login/logout of that id settled on this instance must be of the newest sign-in. */
/**
 * Manager: a request started after login(id) or logout(id) settled on this instance must not
 * get a sign-in the store had replaced by then (by the store's write order: after a logout,
 * anything written up to it; after a login, anything written before it).
 */
export function checkServed(w: World, party: Party, id: string, token: string, started: number): void {
  const last = w.signIns.get(`${party.owner}/${id}`);
  if (!last || started < last.settledAt) return;
  const family = familyOf(w, token);
  if (!family || family.lastStoreVersion === undefined) return;
  if (last.kind === 'logout' && family.lastStoreVersion <= last.version) {
    violate(w, 'fresh-after-sign-in', `${party.owner} served ${w.label(token)} for ${id} to a request started after logout(${id}) settled`);
  } else if (last.kind === 'login' && family.lastStoreVersion < last.version) {
    violate(
      w,
      'fresh-after-sign-in',
      `${party.owner} served ${w.label(token)} (sign-in ${family.name}) for ${id} to a request started after login(${id}, ${last.family!.name}) settled`,
    );
  }
}

function isLoggedOutNow(party: Party): boolean {
  return party.session!.getStatus().state === 'loggedOut';
}

export function judgeFailure(w: World, record: RequestRecord, party: Party, code: string | null, error: unknown): void {
  if (code === null && !(error instanceof Error && /^HTTP /.test(error.message))) {
    violate(
      w,
      'bounded',
      `${record.label} failed with an error that is not an authchart error (no code): ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
    );
    return;
  }
  if (!['fetch', 'getToken', 'refresh', 'mGet'].includes(record.kind) || w.healed) return;
  if (code === 'DISPOSED' && party.disposed) return;
  // A signed-out tab that never heard of a later sign-in (a notification lost to it, or the
  // read it asked for never answered) stays signed out until the store changes again.
  if (code === 'SESSION_EXPIRED' && party.lostNotifications > 0 && party.session && isLoggedOutNow(party)) return;
  if (code === 'SESSION_EXPIRED' || code === 'UNAUTHORIZED_AFTER_REFRESH') {
    const id = record.kind === 'mGet' ? (record.label.match(/\((u\d+)\)/)?.[1] ?? 'tabs') : 'tabs';
    if (!grantAlive(w, w.current.get(id))) return;
  }
  const from = record.start - EXCUSE_WINDOW_MS;
  const excused =
    w.excuses.some((e) => e.at >= from && e.at <= w.sched.now && (e.owner === null || e.owner === record.owner)) ||
    record.start - w.lastGrantChange <= EXCUSE_WINDOW_MS;
  if (excused) return;
  violate(
    w,
    'no-failure-without-cause',
    `${record.label} started at ${w.sched.stamp(record.start)} failed with ${record.failure} though no fault happened around it`,
  );
}
