/**
 * What users do and what goes wrong, as scripted by a scenario: requests, getAccessToken,
 * refresh, pushed tokens, login, logout, dispose; a party that dies, freezes or jumps in time;
 * faults of the token endpoint and of a party's store connection; manager calls.
 */
import { errorCode, RESOURCE_ORIGIN } from './library.js';
import { REQUEST_BOUND_MS, USER_ACTIONS, type Family, type Party, type RequestRecord } from './model.js';
import { checkFresh, checkServed, excuse, judgeFailure, settleRotation } from './invariants.js';
import { whenSilent } from './ports.js';
import type { Action, FreezePoint } from './scenario.js';
import type { World } from './world.js';

export function perform(w: World, action: Action): void {
  if (w.healed) return;
  if ('party' in action) {
    const party = w.parties[action.party % w.parties.length]!;
    if (w.sched.isDead(party.owner)) return;
    w.sched.runAs(party.owner, () => performOn(w, party, action));
  } else if (action.type === 'tokenFault') {
    w.tokenFaults.push(action.fault);
    excuse(w);
  }
}

export function performOn(w: World, party: Party, action: Action): unknown {
  if (USER_ACTIONS.has(action.type) && (party.frozenSince !== null || party.disposed)) return;
  const session = party.session;
  switch (action.type) {
    case 'request':
      return track(w, party, 'fetch', 'request', async () => {
        const response = await party.authFetch!(`${RESOURCE_ORIGIN}/data`);
        if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      });
    case 'getToken':
      return track(w, party, 'getToken', 'getAccessToken()', async () => checkFresh(w, party, 'tabs', await session!.getAccessToken(), 'handed out'));
    case 'refresh':
      w.forced.push(w.sched.now);
      return track(w, party, 'refresh', 'refresh()', () => session!.refresh());
    case 'push': {
      const family = w.current.get('tabs')!;
      const token = `push${++w.pushCount}`;
      w.pushed.set(token, { family, expiresAt: w.sched.now + w.spec.ttlSeconds * 1000 });
      const expiresAt = w.spec.expiry === 'expiresIn' ? w.partyNow(party.index) + w.spec.ttlSeconds * 1000 : w.sched.now + w.spec.ttlSeconds * 1000;
      return track(w, party, 'push', `updateTokens({ accessToken: ${token} })`, () => session!.updateTokens({ accessToken: token, expiresAt }));
    }
    case 'login': {
      const old = w.current.get('tabs');
      if (old) old.ended = true;
      const family = w.newFamily('tabs');
      w.current.set('tabs', family);
      w.lastGrantChange = w.sched.now;
      const tokens = w.signIn(w.lastLogin!, party.index);
      const call = ++w.signInCalls;
      const record = trackSignIn(w, party, 'login', `login(${family.name})`, family, async () => {
        await session!.login(tokens);
        // The user's last call decides (sign-ins racing in two tabs: the store decides
        // between them, see convergence.ts).
        if (call === w.signInCalls) {
          for (const f of w.families.values()) f.ended = f !== family;
          w.current.set('tabs', family);
        }
        // Signed in from memory, the store's write still owed: where it lands among other
        // sign-ins is the store's to decide.
        if (family.lastStoreVersion === undefined) record.unstoredWhenSettled = true;
      });
      w.signInsStarted.push(record);
      return;
    }
    case 'logout': {
      const family = w.current.get('tabs');
      if (family) family.ended = true;
      w.lastGrantChange = w.sched.now;
      party.loggingOut = true;
      const call = ++w.signInCalls;
      w.signInsStarted.push(
        trackSignIn(w, party, 'logout', 'logout()', undefined, async () => {
          try {
            await session!.logout();
            const current = w.current.get('tabs');
            if (current && call === w.signInCalls) current.ended = true;
          } finally {
            party.loggingOut = false;
          }
        }),
      );
      return;
    }
    case 'dispose':
      party.disposed = true;
      return track(w, party, 'dispose', 'dispose()', () => session!.dispose());
    case 'die':
      w.sched.trace.push(`${w.sched.stamp()} ${party.owner} dies`);
      die(w, party);
      return;
    case 'freeze': {
      if (party.frozenSince !== null) return;
      if (action.on) {
        party.armedFreeze = { on: action.on, ms: action.ms };
        return;
      }
      freeze(w, party, action.ms);
      return;
    }
    case 'jump':
      party.offsetMs += action.ms;
      w.clockJumps++;
      excuseFor(w, party);
      return;
    case 'storeHang':
      party.storeHang++;
      return;
    case 'storeThrows':
      party.storeThrow++;
      return;
    case 'dropNotify':
      party.dropNotify++;
      return;
    case 'mGet': {
      const id = `u${action.id % w.spec.ids}`;
      const started = w.sched.now;
      return track(w, party, 'mGet', `getValidAccessToken(${id})`, async () => {
        const token = await party.manager!.getValidAccessToken(id);
        checkServed(w, party, id, token, started);
        checkFresh(w, party, id, token, 'served');
      });
    }
    case 'mLogin': {
      const id = `u${action.id % w.spec.ids}`;
      const old = w.current.get(id);
      if (old) old.ended = true;
      const family = w.newFamily(id);
      w.current.set(id, family);
      w.lastGrantChange = w.sched.now;
      const tokens = w.signIn(w.lastLogin!, party.index);
      const record = track(w, party, 'mLogin', `login(${id}, ${family.name})`, async () => {
        await party.manager!.login(id, tokens);
        w.signIns.set(`${party.owner}/${id}`, { kind: 'login', family, settledAt: w.sched.now, version: w.storeVersions.get(id) ?? 0 });
      });
      w.signInsStarted.push(Object.assign(record, { id, family }));
      return record;
    }
    case 'mLogout': {
      const id = `u${action.id % w.spec.ids}`;
      const family = w.current.get(id);
      if (family) family.ended = true;
      w.current.delete(id);
      w.lastGrantChange = w.sched.now;
      const started = w.sched.now;
      const record = track(w, party, 'mLogout', `logout(${id})`, async () => {
        await party.manager!.logout(id);
        // What the logout removed: the store as its clear found it (a sign-in written after
        // the clear, by another instance, is a newer one).
        const clear = w.lastClear.get(`${party.owner}/${id}`);
        const version = clear && clear.at >= started ? clear.version : (w.storeVersions.get(id) ?? 0);
        w.signIns.set(`${party.owner}/${id}`, { kind: 'logout', family: null, settledAt: w.sched.now, version });
      });
      w.signInsStarted.push(Object.assign(record, { id }));
      return record;
    }
  }
}

/** Faults that concern one party excuse its own requests' failures. */
export function excuseFor(w: World, party: Party): void {
  excuse(w, party.owner);
}

/** The party freezes now: its timers, answers and notifications are held for `ms`. */
export function freeze(w: World, party: Party, ms: number): void {
  if (party.frozenSince !== null || w.healed) return;
  party.frozenSince = w.sched.now;
  excuseFor(w, party);
  for (const c of w.calls) if (c.owner === party.owner && (c.state === 'sent' || c.state === 'arrived')) c.frozenInFlight = true;
  w.sched.freeze(party.owner);
  w.sched.trace.push(`${w.sched.stamp()} ${party.owner} freezes for ${ms} ms`);
  if (w.heldLocks.get(party.owner)?.size) whenSilent(w, party.owner, false);
  w.sched.at(w.sched.now + ms, 'world', `${party.owner} thaws`, () => thaw(w, party));
}

/** A freeze armed for this point of the party's protocol lands now. */
export function freezePoint(w: World, party: Party, point: FreezePoint): void {
  if (party.armedFreeze?.on !== point) return;
  const { ms } = party.armedFreeze;
  party.armedFreeze = null;
  freeze(w, party, ms);
}

export function thaw(w: World, party: Party): void {
  if (party.frozenSince === null) return;
  const frozenFor = w.sched.now - party.frozenSince;
  party.frozenSince = null;
  for (const r of w.requests) if (r.owner === party.owner && !r.settled) r.deadline += frozenFor;
  w.sched.thaw(party.owner);
  excuse(w, party.owner);
}

export function die(w: World, party: Party): void {
  // Rotated tokens it held but could not store die with it: the others can only present the
  // refresh token they replaced (STORE_WRITE_FAILED, then gone with the party).
  for (const family of w.families.values()) {
    const last = family.rotations.at(-1);
    if (!last || w.unstored.get(last.to) !== party.owner || family.documented.includes('STORE_WRITE_FAILED')) continue;
    const stored = w.stores.get(family.id)?.get() as { refreshToken?: string } | null | undefined;
    if (w.label(stored?.refreshToken) !== last.to) family.documented.push('STORE_WRITE_FAILED');
  }
  for (const c of w.calls) {
    if (c.owner !== party.owner) continue;
    if (c.state === 'arrived' && c.rotation) settleRotation(c.rotation, 'DIED_MID_REFRESH');
    if (c.state === 'sent' || c.state === 'arrived') c.state = 'cancelled';
  }
  w.sched.kill(party.owner);
  if (w.spec.lockOnDeath === 'released') {
    for (const grant of w.heldLocks.get(party.owner) ?? []) void w.sched.runAs('world', () => grant.handle.release());
    w.heldLocks.delete(party.owner);
  } else if (w.heldLocks.get(party.owner)?.size) {
    whenSilent(w, party.owner, true);
  }
}

/** A user's sign-in or sign-out in a tab: tracked, and kept with the user session it changes. */
function trackSignIn(w: World, party: Party, kind: 'login' | 'logout', what: string, family: Family | undefined, run: () => Promise<unknown>): RequestRecord {
  return Object.assign(track(w, party, kind, what, run), { id: 'tabs' }, family ? { family } : {});
}

export function track(w: World, party: Party, kind: RequestRecord['kind'], what: string, run: () => Promise<unknown>): RequestRecord {
  const record: RequestRecord = {
    n: ++w.requestCount,
    owner: party.owner,
    kind,
    label: `${party.owner} ${what} #${w.requestCount}`,
    start: w.sched.now,
    deadline: w.sched.now + REQUEST_BOUND_MS,
    settled: false,
  };
  w.requests.push(record);
  let promise: Promise<unknown>;
  try {
    promise = run();
  } catch (error) {
    promise = Promise.reject(error);
  }
  promise.then(
    () => {
      if (record.settled) return;
      record.settled = true;
      record.settledAt = w.sched.now;
      w.sched.trace.push(`${w.sched.stamp()} ${record.label} ok`);
    },
    (error: unknown) => {
      if (record.settled) return;
      record.settled = true;
      record.settledAt = w.sched.now;
      const code = errorCode(w.lib, error);
      record.failure = code ?? String(error);
      w.sched.trace.push(`${w.sched.stamp()} ${record.label} failed: ${record.failure}`);
      judgeFailure(w, record, party, code, error);
    },
  );
  return record;
}
