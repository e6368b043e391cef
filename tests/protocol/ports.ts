/**
 * The world's ports, as the parties reach them: a connection to the shared store (answers in
 * order, notifications late, lost or reordered), a handle on the shared lock, a refresher
 * that calls the token server over a network that can lose answers, and a fetch to the
 * resource server. Each call is an event the scheduler delivers when it chooses.
 */
import type { TokenServerReply } from '../../adapters/testing/token-server.js';
import {
  networkError,
  refreshedTokens,
  tokenEndpointError,
  TUNING,
  type LockHandle,
  type RefreshLock,
  type Refresher,
  type StoredTokens,
  type TokenSet,
  type TokenStore,
} from './library.js';
import type { Party, Rotation, TokenCall, TokenFault } from './model.js';
import { freezePoint } from './actions.js';
import { checkFresh, checkSingleFlight, excuse, familyOf, isRevoked, noteSeen, onArrival, settleRotation } from './invariants.js';
import type { World } from './world.js';

/** One party's connection to the shared store of `id`: answers in order, notifications late or lost. */
export function storeView(w: World, party: Party, id: string): TokenStore {
  const real = w.stores.get(id)!;
  const lat = w.spec.latency.store;
  const call = <T>(what: string, write: boolean, apply: () => T, refreshToken?: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const lost = () => {
        if (refreshToken) w.unstored.set(w.label(refreshToken), party.owner);
      };
      if (party.storeHang > 0) {
        party.storeHang--;
        lost();
        // A read that never answers may be the one a change notification asked for: the
        // party may hold older tokens until its next refresh, as after a lost notification.
        party.lostNotifications++;
        excuse(w, party.owner);
        w.sched.trace.push(`${w.sched.stamp()} ${party.owner} store.${what} hangs (never answers)`);
        return;
      }
      const throws = write && party.storeThrow > 0;
      if (throws) party.storeThrow--;
      const label = `${party.owner} store.${what}${id === 'tabs' ? '' : `(${id})`}`;
      // One connection: calls reach the store in order, and their answers come back in order,
      // each later than the call took effect (possibly after other parties' writes, or after
      // its own party froze and thawed).
      w.sched.event(party.owner, `${label} reaches the store`, { deadline: w.sched.now + lat, fifo: `${party.owner}:store` }, () => {
        let outcome: { value: T } | { error: unknown };
        if (throws) {
          lost();
          excuse(w, party.owner);
          w.sched.trace.push(`${w.sched.stamp()} ${party.owner} store.${what} throws QuotaExceededError`);
          outcome = { error: new DOMException('The quota has been exceeded.', 'QuotaExceededError') };
        } else {
          w.writer = party.owner;
          try {
            outcome = { value: w.sched.runAs('world', apply) };
          } finally {
            w.writer = null;
          }
        }
        w.sched.event(party.owner, `${label} answer`, { deadline: w.sched.now + lat, fifo: `${party.owner}:store-answers` }, () => {
          if ('error' in outcome) return reject(outcome.error);
          noteSeen(w, party, id, outcome.value);
          resolve(outcome.value);
        });
        if (!write) freezePoint(w, party, 'read');
      });
    });
  const known: TokenStore = {
    get: () => call('get', false, () => real.get() as StoredTokens | null),
    set: (tokens, options) =>
      call(
        `set(${w.label(tokens.accessToken)}, ${w.label(tokens.refreshToken)}${options?.expectedVersion !== undefined ? `, if v${options.expectedVersion}` : ''})`,
        true,
        () => storeSet(w, real, tokens, options),
        tokens.refreshToken,
      ),
    clear: () =>
      call('clear', true, () => {
        // Where this clear falls in the store's write order (a clear keeps the version).
        w.lastClear.set(`${party.owner}/${id}`, { at: w.sched.now, version: w.storeVersions.get(id) ?? 0 });
        return real.clear() as undefined;
      }),
    subscribe: (listener) => {
      const key = ++w.subscriptionId;
      let subscribers = w.storeSubscribers.get(id);
      if (!subscribers) {
        subscribers = new Map();
        w.storeSubscribers.set(id, subscribers);
      }
      subscribers.set(key, { owner: party.owner, listener });
      return () => void subscribers.delete(key);
    },
  };
  // Whatever else the store offers (a port that grows) goes over the same connection.
  const view = new Proxy(known, {
    get: (target, prop, receiver) => {
      if (prop in target) return Reflect.get(target, prop, receiver);
      const value = (real as unknown as Record<string | symbol, unknown>)[prop];
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => call(String(prop), true, () => (value as (...a: unknown[]) => unknown).apply(real, args));
    },
    has: (target, prop) => prop in target || prop in real,
  });
  if (!w.subscribedReal.has(id)) {
    w.subscribedReal.add(id);
    real.subscribe?.(() => notifyAll(w, id));
  }
  return view;
}

/** The store's write: the real compare-and-set, or (mutant) one that ignores the expected version. */
export function storeSet(w: World, real: TokenStore, tokens: TokenSet, options?: { expectedVersion?: number }): StoredTokens | null {
  if (w.spec.storeCas === 'ignored') return real.set(tokens) as StoredTokens | null;
  return real.set(tokens, options) as StoredTokens | null;
}

/** The store changed: tell every other subscribed party, each notification on its own way. */
export function notifyAll(w: World, id: string): void {
  const writer = w.writer;
  const record = w.stores.get(id)!.get() as StoredTokens | null;
  const written = record ? familyOf(w, record.refreshToken ?? record.accessToken) : undefined;
  if (record && written) written.lastStoreVersion = record.version;
  if (record) w.storeVersions.set(id, record.version);
  // A pushed access token is opaque: stored with a sign-in's refresh token, it is that
  // sign-in's (last writer wins, as documented; a push that lands after a sign-in joins it).
  const pushed = record ? w.pushed.get(record.accessToken) : undefined;
  if (pushed && written) pushed.family = written;
  for (const { owner, listener } of w.storeSubscribers.get(id)?.values() ?? []) {
    if (owner === writer) continue;
    const party = w.parties.find((p) => p.owner === owner);
    if (party && party.dropNotify > 0) {
      party.dropNotify--;
      party.lostNotifications++;
      w.sched.trace.push(`${w.sched.stamp()} notification to ${owner} lost`);
      continue;
    }
    w.sched.event(owner, `${owner} notified: store changed${id === 'tabs' ? '' : ` (${id})`}`, { deadline: w.sched.now + w.spec.latency.notify }, () => {
      w.sched.runAs(owner, listener);
    });
  }
}

/**
 * How the world's locks behave, as the drivers do:
 * - tabs (`webLocksLock`, `leaseLock`): held at most `maxHoldMs` (15 s); a holder that stops
 *   answering the waiters' pings (frozen, or dead with its lease kept) is taken over after
 *   `staleMs` (2 s) of silence; a dead tab's Web Lock is released by the browser at once;
 * - server instances (`redisLock`): held at most `maxHoldMs` (60 s); a dead instance stops
 *   renewing, so its lock expires `ttlMs` (5 s) after it died.
 * A holder that loses the lock without releasing it sees its handle's `signal` abort.
 * The `holdBound: 'none'` mutant has neither bound nor takeover: a silent holder keeps it.
 */
export const LOCKS = {
  tabs: { maxHoldMs: 15_000, staleMs: 2_000 },
  manager: { maxHoldMs: 60_000, ttlMs: 5_000 },
} as const;

/** A lock held by a party, as the world sees it: the real handle, and how to take it over. */
export interface Grant {
  id: string;
  handle: LockHandle;
  lost: AbortController;
}

/** The real lock of one user session id, with the world's bounds. */
export function worldLock(w: World): RefreshLock {
  if (w.spec.holdBound === 'none') return w.lib.memoryLock({ maxHoldMs: 2_147_483_647 });
  return w.lib.memoryLock({ maxHoldMs: w.spec.kind === 'tabs' ? LOCKS.tabs.maxHoldMs : LOCKS.manager.maxHoldMs });
}

/** Take the lock from a holder that stopped answering: its signal aborts and the next waiter gets it. */
export function takeOver(w: World, owner: string, why: string): void {
  if (w.spec.holdBound === 'none') return;
  // A token call of the silent holder already rotated the refresh token: the only copy of the
  // new one is in its held answer, and the next holder can only present the old one.
  for (const call of w.calls) {
    if (call.owner === owner && call.state === 'arrived' && call.rotation && w.sched.isFrozen(owner)) settleRotation(call.rotation, 'FROZEN_AFTER_ROTATION');
  }
  for (const grant of [...(w.heldLocks.get(owner) ?? [])]) {
    w.heldLocks.get(owner)!.delete(grant);
    w.sched.trace.push(`${w.sched.stamp()} ${owner}'s lock${grant.id === 'tabs' ? '' : ` (${grant.id})`} taken over (${why})`);
    w.sched.runAs('world', () => {
      grant.lost.abort(new w.lib.RefreshError({ kind: 'transient', reason: 'LOCK_LOST' }, `The refresh lock was lost (${why}).`));
      void grant.handle.release();
    });
  }
}

/** A party went silent (frozen, or dead with its lock kept): after the driver's bound, its lock is taken over. */
export function whenSilent(w: World, owner: string, dead: boolean): void {
  const after = w.spec.kind === 'tabs' ? LOCKS.tabs.staleMs : dead ? LOCKS.manager.ttlMs : null;
  if (after === null) return;
  w.sched.at(w.sched.now + after, 'world', `${owner} silent for ${after} ms`, () => {
    const party = w.parties.find((p) => p.owner === owner);
    const silent = dead ? w.sched.isDead(owner) : party?.frozenSince != null && w.sched.now - party.frozenSince >= after;
    if (silent) takeOver(w, owner, dead ? `its holder died ${after} ms ago` : `its holder has been silent for ${after} ms`);
  });
}

/** One party's handle on the shared lock of `id`. */
export function lockView(w: World, party: Party, id: string): RefreshLock {
  const real = w.locks.get(id)!;
  const lat = w.spec.latency.lock;
  const known: RefreshLock = {
    acquire: (options) =>
      new Promise<LockHandle>((resolve, reject) => {
        const { signal } = options;
        const controller = new AbortController();
        const onAbort = () => w.sched.runAs('world', () => controller.abort(signal.reason));
        if (signal.aborted) return reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        w.sched
          .runAs('world', () => real.acquire({ ...options, signal: controller.signal }))
          .then(
            (handle) => {
              const grant: Grant = { id, handle, lost: new AbortController() };
              let held = w.heldLocks.get(party.owner);
              if (!held) {
                held = new Set();
                w.heldLocks.set(party.owner, held);
              }
              held.add(grant);
              if (w.sched.isDead(party.owner)) {
                if (w.spec.lockOnDeath === 'released') {
                  held.delete(grant);
                  void w.sched.runAs('world', () => handle.release());
                } else whenSilent(w, party.owner, true);
                return;
              }
              // Granted to a frozen party: it cannot answer pings either.
              if (w.sched.isFrozen(party.owner)) whenSilent(w, party.owner, false);
              const signals = [grant.lost.signal, ...(handle.signal ? [handle.signal] : [])];
              const lockSignal = AbortSignal.any(signals);
              w.sched.event(
                party.owner,
                `${party.owner} lock granted${id === 'tabs' ? '' : ` (${id})`}`,
                { deadline: w.sched.now + lat, fifo: `${party.owner}:lock` },
                () => {
                  signal.removeEventListener('abort', onAbort);
                  const release = () =>
                    new Promise<void>((done) => {
                      w.sched.event(
                        party.owner,
                        `${party.owner} lock released${id === 'tabs' ? '' : ` (${id})`}`,
                        { deadline: w.sched.now + lat, fifo: `${party.owner}:lock` },
                        () => {
                          held!.delete(grant);
                          void w.sched.runAs('world', () => handle.release());
                          done();
                        },
                      );
                    });
                  // Anything else a handle offers (a port that grows) is the world's, answered at once.
                  resolve(
                    new Proxy(handle, {
                      get: (target, prop) => {
                        if (prop === 'release') return release;
                        if (prop === 'signal') return lockSignal;
                        const value = Reflect.get(target, prop) as unknown;
                        return typeof value === 'function'
                          ? (...args: unknown[]) => w.sched.runAs('world', () => (value as (...a: unknown[]) => unknown).apply(target, args))
                          : value;
                      },
                    }),
                  );
                  freezePoint(w, party, 'lock');
                },
              );
            },
            (error) => {
              signal.removeEventListener('abort', onAbort);
              reject(error);
            },
          );
      }),
  };
  return new Proxy(known, {
    get: (target, prop, receiver) => {
      if (prop in target) return Reflect.get(target, prop, receiver);
      const value = (real as unknown as Record<string | symbol, unknown>)[prop];
      return typeof value === 'function'
        ? (...args: unknown[]) => w.sched.runAs('world', () => (value as (...a: unknown[]) => unknown).apply(real, args))
        : value;
    },
    has: (target, prop) => prop in target || prop in real,
  });
}

/** The refresher of one party: a token call over the network to the token server. */
export function refresher(w: World, party: Party): Refresher {
  return (refreshToken, { signal }) =>
    new Promise((resolve, reject) => {
      const presented = w.label(refreshToken);
      const family = w.tokenOf.get(refreshToken)?.family;
      const call: TokenCall = {
        n: w.calls.length + 1,
        owner: party.owner,
        presented,
        family,
        start: w.sched.now,
        state: 'sent',
        frozenInFlight: false,
        fault: w.tokenFaults.shift() ?? null,
      };
      w.calls.push(call);
      checkSingleFlight(w, call);
      const lat = w.spec.latency.net;
      const arrive = w.sched.event(
        party.owner,
        `${party.owner} token call #${call.n} (${presented}) reaches the server${call.fault ? ` [${call.fault}]` : ''}`,
        { deadline: w.sched.now + lat },
        async () => {
          if (call.state !== 'sent') return;
          if (call.fault === 'stall') {
            call.state = 'lost';
            return;
          }
          call.state = 'arrived';
          const fault = call.fault;
          // Faults before the server processes the call: nothing rotates.
          if (fault === 'unavailable') w.server.fault({ type: 'unavailable' });
          else if (fault === 'rateLimited') w.server.fault({ type: 'rateLimited', retryAfterSeconds: 2 });
          else if (fault === 'reset') w.server.fault({ type: 'reset' });
          const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
          const served = await w.server.token({ form, authorization: null }, () => Promise.resolve());
          const outcome = w.server.calls.at(-1)!.outcome;
          onArrival(w, call, served, outcome);
          // Faults after it: the rotation happened, the answer is lost or never comes.
          if (fault === 'lostResponse' && call.rotation) settleRotation(call.rotation, 'LOST_RESPONSE');
          freezePoint(w, party, 'call');
          if (fault === 'hang') return;
          const reply: TokenServerReply = fault === 'lostResponse' ? { kind: 'reset' } : served;
          w.sched.event(
            party.owner,
            `${party.owner} token call #${call.n} answer: ${describeReply(w, reply, outcome, fault)}`,
            { deadline: w.sched.now + lat },
            () => {
              if (call.state !== 'arrived') return;
              call.state = 'done';
              if (call.rotation) settleRotation(call.rotation, 'delivered');
              settleTokenCall(w, reply, resolve, reject);
            },
          );
        },
      );
      signal.addEventListener(
        'abort',
        () => {
          if (call.state === 'sent') {
            call.state = 'cancelled';
            w.sched.cancel(arrive);
          } else if (call.state === 'arrived') {
            call.state = 'done';
            if (call.rotation) settleRotation(call.rotation, abandonCause(w, party, call));
          }
          reject(signal.reason);
        },
        { once: true },
      );
    });
}

export function describeReply(w: World, reply: TokenServerReply, outcome: string, fault: TokenFault | null): string {
  if (reply.kind === 'reset') return fault === 'lostResponse' ? `connection reset (after ${outcome})` : 'connection reset';
  if (reply.kind === 'html') return `HTML ${reply.status}`;
  if (reply.status === 200) {
    const body = reply.body as { access_token: string; refresh_token?: string };
    return `200 ${w.label(body.access_token)} ${w.label(body.refresh_token)}${outcome === 'grace' ? ' (grace)' : ''}`;
  }
  return `${reply.status} ${String((reply.body as { error?: string }).error ?? '')}`;
}

export function settleTokenCall(
  w: World,
  reply: TokenServerReply,
  resolve: (value: ReturnType<typeof refreshedTokens>) => void,
  reject: (error: unknown) => void,
): void {
  if (reply.kind === 'reset') {
    reject(networkError());
    return;
  }
  if (reply.kind === 'html') {
    reject(tokenEndpointError(w.lib, reply.status, 'html', undefined));
    return;
  }
  if (reply.status === 200) {
    resolve(refreshedTokens(reply.body as { access_token: string; refresh_token?: string; expires_in: number }, w.spec.expiry, w.sched.now));
    return;
  }
  const retryAfter = reply.headers?.['retry-after'];
  reject(tokenEndpointError(w.lib, reply.status, (reply.body as { error?: string }).error, retryAfter ? Number(retryAfter) * 1000 : undefined));
}

/** Why a client let go of a token call whose server side already happened. */
export function abandonCause(w: World, party: Party, call: TokenCall): Rotation['fate'] {
  if (w.sched.isDead(party.owner)) return 'DIED_MID_REFRESH';
  if (party.disposed) return 'DISPOSED_MID_REFRESH';
  if (w.sched.now >= call.start + TUNING.refreshTimeoutMs) return 'SILENT_AFTER_ROTATION';
  return 'ABANDONED';
}

/** The resource server, as the fetch of one party reaches it. */
export function resource(w: World, party: Party): typeof globalThis.fetch {
  return (input, init) =>
    new Promise<Response>((resolve) => {
      const authorization = new Headers(init?.headers).get('authorization');
      const token = authorization?.replace(/^Bearer /, '') ?? '';
      checkFresh(w, party, 'tabs', token, 'sent a request with');
      w.sched.event(party.owner, `${party.owner} request with ${w.label(token)} reaches the API`, { deadline: w.sched.now + w.spec.latency.net }, () => {
        const ok = accepts(w, token);
        const answer = ok ? new Response('{"ok":true}', { status: 200 }) : new Response('{"error":"invalid_token"}', { status: 401 });
        w.sched.event(party.owner, `${party.owner} API answers ${ok ? 200 : 401}`, { deadline: w.sched.now + w.spec.latency.net }, () => resolve(answer));
      });
      void input;
    });
}

/** Whether the resource server accepts an access token now. */
export function accepts(w: World, token: string): boolean {
  const pushed = w.pushed.get(token);
  if (pushed) return !isRevoked(w, pushed.family) && w.sched.now < pushed.expiresAt;
  return w.server.authenticate(`Bearer ${token}`).ok;
}
