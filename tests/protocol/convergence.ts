/**
 * The end of a run: once the faults stopped and the world ran on its own, every live party
 * is asked for a token and must agree with the store (or all be signed out), then one more
 * rotation must be followed by everyone.
 */
import { errorCode, isLoggedOut, TUNING, type StoredTokens } from './library.js';
import type { Answer, Family, Party, RequestRecord } from './model.js';
import { accepts } from './ports.js';
import { checkStep, currentLabel, isRevoked, violate } from './invariants.js';
import type { World } from './world.js';

/** Every live party asks for a token; all must agree with the store (or all be signed out). */
export async function converge(w: World): Promise<void> {
  if (w.violations.length) return;
  w.converging = true;
  if (w.spec.kind === 'tabs') await convergeTabs(w);
  else await convergeManagers(w);
}

/**
 * A token a party that missed a change may still hand out: one the resource server accepts,
 * or one that expired at the server no longer ago than the clocks disagree (expiries are
 * absolute times, computed on the receiving party's clock and shared through the store: a
 * clock behind the receiver's believes a token valid that much longer; only a 401 or its
 * next refresh tells it otherwise).
 */
export function stillBelievedValid(w: World, party: Party, token: string): boolean {
  if (accepts(w, token)) return true;
  const known = w.tokenOf.get(token);
  const family = known?.family ?? w.pushed.get(token)?.family;
  if (!family || isRevoked(w, family)) return false;
  // Tokens born expired on a clock ahead of the server's carry no expiry: used until a 401.
  if (w.spec.expiry === 'serverClock' && w.parties.some((p) => w.partyNow(p.index) > w.sched.now)) return true;
  const expiredAt = known ? known.issuedAt + w.spec.ttlSeconds * 1000 : w.pushed.get(token)!.expiresAt;
  // The expiry it holds was computed on the clock of whoever received the token (up to the
  // clock furthest ahead) and is read on its own.
  const ahead = Math.max(0, ...w.parties.map((p) => w.partyNow(p.index) - w.sched.now));
  const skew = Math.max(0, ahead - (w.partyNow(party.index) - w.sched.now));
  return w.sched.now <= expiredAt + skew;
}

/** A sign-in lost in a documented unrecoverable step (or revoked after a reuse already reported). */
function lostForGood(w: World, family: Family): boolean {
  return family.documented.length > 0 || (isRevoked(w, family) && family.revocationExplained);
}

/** A party that died or was disposed (it retries nothing anymore). */
function gone(w: World, owner: string): boolean {
  return w.sched.isDead(owner) || w.parties.some((p) => p.owner === owner && p.disposed);
}

/** Sign-ins started this close together race: either may be the one the user ends with. */
const RACE_MS = 10_000;

export function liveParties(w: World): Party[] {
  return w.parties.filter((p) => !p.disposed && !w.sched.isDead(p.owner));
}

/** Ask every party for a token; each answer is kept with the store's record at that moment. */
export async function ask(w: World, parties: Party[], ask: (p: Party) => Promise<string>, id: string): Promise<Map<Party, Answer>> {
  const answers = new Map<Party, Answer>();
  const store = w.stores.get(id)!;
  for (const party of parties) {
    await w.sched.settleAs(
      party.owner,
      () =>
        void ask(party).then(
          (token) => void answers.set(party, { token, stored: store.get() as StoredTokens | null }),
          (error: unknown) => void answers.set(party, { code: errorCode(w.lib, error) ?? String(error), stored: store.get() as StoredTokens | null }),
        ),
    );
  }
  const until = w.sched.now + TUNING.maxWaitMs + 5_000;
  while (answers.size < parties.length && w.sched.now <= until && w.violations.length === 0) {
    const moved = await w.sched.step(until);
    checkStep(w);
    if (!moved) break;
  }
  for (const party of parties) {
    if (!answers.has(party) && w.violations.length === 0)
      violate(
        w,
        'convergence',
        `${party.owner} did not answer ${id === 'tabs' ? 'getAccessToken()' : `getValidAccessToken(${id})`} within ${TUNING.maxWaitMs + 5_000} ms${party.session ? ` (state ${party.session.getStatus().state})` : ''}`,
      );
  }
  return answers;
}

export async function convergeTabs(w: World): Promise<void> {
  const live = liveParties(w);
  if (live.length === 0) return;
  const family = expectedSignIn(w, 'tabs');
  const signedOutLast = family === undefined;
  // A tab whose own logout() failed (its store clear never landed; the app got a typed
  // error) signed itself out as asked: it may stay signed out while the store and the other
  // tabs keep the session it failed to end, or take the session back from the store.
  const signedItselfOut = (party: Party, answer: Answer) =>
    answer.code === 'SESSION_EXPIRED' &&
    w.signInsStarted.some((r) => r.owner === party.owner && r.kind === 'logout' && (!r.settled || r.failure !== undefined));
  if (family && lostForGood(w, family)) return;
  /** `strict`: every party serves exactly what the store holds. Otherwise a party that lost a notification may serve an older token of the current sign-in that still works. */
  const check = async (round: string, strict: boolean) => {
    const answers = await ask(w, live, (p) => p.session!.getAccessToken(), 'tabs');
    // The sign-in met a documented unrecoverable step while being asked (a refresh token
    // lost earlier shows up as a reuse now): nothing more is owed to it.
    if (family && lostForGood(w, family)) return true;
    for (const [party, answer] of answers) {
      const { stored } = answer;
      if (signedOutLast || !family) {
        const tolerated = !strict && party.lostNotifications > 0;
        if (!tolerated && (answer.token !== undefined || !isLoggedOut(party.session!))) {
          violate(
            w,
            'convergence',
            `${round}: the user signed out last, but ${party.owner} still ${answer.token !== undefined ? `serves ${w.label(answer.token)}` : `is ${party.session!.getStatus().state}`}`,
          );
        }
        continue;
      }
      if (answer.token === undefined && signedItselfOut(party, answer)) continue;
      // A signed-out tab that missed the sign-in (its notification lost, or the read it asked
      // for never answered) stays signed out until the store changes again (one more rotation).
      if (answer.token === undefined && answer.code === 'SESSION_EXPIRED' && !strict && party.lostNotifications > 0) continue;
      if (answer.token === undefined) {
        violate(
          w,
          'convergence',
          `${round}: ${party.owner}'s getAccessToken() failed with ${answer.code} (state ${party.session!.getStatus().state}) while ${family.name} is valid; the store holds ${stored ? `${w.label(stored.accessToken)} ${w.label(stored.refreshToken)}` : 'nothing'}`,
        );
      } else if (!stored || stored.accessToken !== answer.token) {
        const tolerated = !strict && party.lostNotifications > 0 && stillBelievedValid(w, party, answer.token);
        if (!tolerated)
          violate(
            w,
            'convergence',
            `${round}: ${party.owner} serves ${w.label(answer.token)} but the store holds ${stored ? w.label(stored.accessToken) : 'nothing'}`,
          );
      }
    }
    const stored = w.stores.get('tabs')!.get() as StoredTokens | null;
    if (family && !signedOutLast && !w.violations.length) {
      if (!stored) violate(w, 'convergence', `${round}: the store is empty while ${family.name} is valid`);
      else if (w.tokenOf.get(stored.refreshToken ?? '')?.family !== family)
        violate(w, 'convergence', `${round}: the store holds ${w.label(stored.refreshToken)}, not a token of the current sign-in ${family.name}`);
      else if (!w.server.isAlive(stored.refreshToken!))
        violate(
          w,
          'convergence',
          `${round}: the store's refresh token ${w.label(stored.refreshToken)} is not the server's current one (${currentLabel(family)})`,
        );
    }
    return w.violations.length === 0;
  };
  if (!(await check('after the faults stopped', false))) return;
  if (signedOutLast || !family) {
    // A party that missed the sign-out learns of it on its next refresh.
    const stale = live.filter((p) => p.lostNotifications > 0 && !isLoggedOut(p.session!));
    if (stale.length === 0) return;
    w.forced.push(w.sched.now);
    await ask(w, stale, (p) => p.session!.refresh().then(() => 'ok'), 'tabs');
    await w.runFor(2_000);
    if (w.violations.length) return;
    await check('after a refresh of the parties that missed the sign-out', true);
    return;
  }
  // A party that missed a notification catches up on its next refresh (it re-reads the store).
  const stale = live.filter((p) => p.lostNotifications > 0);
  if (stale.length > 0) {
    w.forced.push(w.sched.now);
    await ask(w, stale, (p) => p.session!.refresh().then(() => 'ok'), 'tabs');
    await w.runFor(2_000);
    if (w.violations.length) return;
  }
  // One more rotation, with no fault: a refresh token lost earlier shows up now as a reuse,
  // and every party must follow it.
  w.forced.push(w.sched.now);
  // By a party that holds the session (a signed-out one that missed the sign-in cannot refresh;
  // it catches up on this very change).
  const rotator = live.find((p) => !isLoggedOut(p.session!)) ?? live[0]!;
  await ask(w, [rotator], (p) => p.session!.refresh().then(() => 'ok'), 'tabs');
  await w.runFor(2_000);
  if (w.violations.length) return;
  await check('after one more rotation', true);
}

/**
 * A sign-in or sign-out of this user session whose outcome is open: it never settled (its
 * party died first), it failed, or it settled with its tokens held in memory only (the store
 * refused them) and its party died or was disposed before the write was retried.
 */
function openSignIn(w: World, id: string): boolean {
  return w.signInsStarted.some(
    (r) =>
      r.id === id &&
      (!r.settled || r.failure !== undefined || (r.unstoredWhenSettled === true && r.family!.lastStoreVersion === undefined && gone(w, r.owner))),
  );
}

/**
 * The sign-in every party must end with (undefined: signed out), as the user's calls decided:
 * the last login(), unless a logout() came after it. Where the calls leave it to the store,
 * the store's content decides, among the outcomes those calls allow:
 * - an open outcome (above): whatever the store holds;
 * - a sign-in that settled from memory (its write owed, retried later) lands after whatever
 *   other tabs wrote meanwhile, so it may win over sign-ins racing it (never over an older
 *   one it replaced, nor over a logout() called after it);
 * - sign-ins and sign-outs of different parties whose calls overlap in time race at the
 *   store: whichever lands last is the user's.
 */
function expectedSignIn(w: World, id: string): Family | undefined {
  const stored = w.stores.get(id)!.get() as StoredTokens | null;
  const inStore = stored ? w.tokenOf.get(stored.refreshToken ?? '')?.family : undefined;
  if (openSignIn(w, id)) return inStore;
  const current = w.current.get(id);
  const expected = current && !current.ended ? current : undefined;
  if (inStore === expected) return expected;
  const records = w.signInsStarted.filter((r) => r.id === id && r.settled && r.failure === undefined);
  const outcome = (r: RequestRecord) => (r.kind === 'login' || r.kind === 'mLogin' ? r.family : undefined);
  const allowed = new Set<Family | undefined>();
  for (const r of records) {
    const overlapping = records.filter((o) => o !== r && o.owner !== r.owner && o.start <= (r.settledAt ?? Infinity) && r.start <= (o.settledAt ?? Infinity));
    if (overlapping.length > 0) for (const o of [r, ...overlapping]) allowed.add(outcome(o));
    if (r.unstoredWhenSettled && !records.some((o) => (o.kind === 'logout' || o.kind === 'mLogout') && o.start >= r.start)) {
      allowed.add(r.family);
      for (const o of records) if (o.owner !== r.owner && Math.abs(o.start - r.start) <= RACE_MS) allowed.add(outcome(o));
    }
  }
  return allowed.has(expected) && allowed.has(inStore) ? inStore : expected;
}

export async function convergeManagers(w: World): Promise<void> {
  for (let i = 0; i < w.spec.ids && w.violations.length === 0; i++) {
    const id = `u${i}`;
    const family = expectedSignIn(w, id);
    if (family && lostForGood(w, family)) continue;
    const answers = await ask(w, liveParties(w), (p) => p.manager!.getValidAccessToken(id), id);
    if (family && lostForGood(w, family)) continue;
    for (const [party, answer] of answers) {
      const { stored } = answer;
      if (!family) {
        if (answer.token !== undefined) violate(w, 'convergence', `${party.owner} serves ${w.label(answer.token)} for ${id}, which the user signed out of`);
        continue;
      }
      if (answer.token === undefined)
        violate(w, 'convergence', `${party.owner}'s getValidAccessToken(${id}) failed with ${answer.code} while ${family.name} is valid`);
      else if (!stored || stored.accessToken !== answer.token) {
        const tolerated = party.lostNotifications > 0 && stillBelievedValid(w, party, answer.token);
        if (!tolerated)
          violate(
            w,
            'convergence',
            `${party.owner} serves ${w.label(answer.token)} for ${id} but the store holds ${stored ? w.label(stored.accessToken) : 'nothing'}`,
          );
      }
      if (family && stored && !w.server.isAlive(stored.refreshToken!))
        violate(w, 'convergence', `the store of ${id} holds ${w.label(stored.refreshToken)}, not the server's current refresh token`);
    }
  }
}
