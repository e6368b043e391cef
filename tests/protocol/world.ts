/**
 * A model of the world around authchart sessions, played by the controlled scheduler:
 *
 * - parties: N browser tabs, each a real session (createSession + createAuthFetch) sharing
 *   one store and one lock; or M server instances, each a real session manager
 *   (createSessionManager) sharing a store and a lock per user session;
 * - a shared store, a shared lock, a strict rotating token server, a resource server
 *   (ports.ts); a clock per party that can drift and jump;
 * - what users do and what goes wrong (actions.ts).
 *
 * The World holds the state all of them share: what the server issued (token families and
 * their rotations), the token calls and requests made, the faults injected. The invariants
 * (invariants.ts) are checked as it runs; `heal()` then `converge()` (convergence.ts) end a run.
 */
import { createTokenServer, type TokenServer } from '../../adapters/testing/token-server.js';
import {
  openFetch,
  openManager,
  openSession,
  signInTokens,
  type Library,
  type RefreshLock,
  type StoredTokens,
  type TokenSet,
  type TokenStore,
} from './library.js';
import { MAX_STEPS, SETTLE_MS, USER_ACTIONS, type Family, type Party, type RequestRecord, type TokenCall, type TokenFault, type Violation } from './model.js';
import { lockView, refresher, resource, storeView, worldLock, type Grant } from './ports.js';
import { checkStep, onLoggedOut, violate } from './invariants.js';
import { perform, thaw } from './actions.js';
import { oldestFirst, Scheduler, type Chooser, type Owner } from './scheduler.js';
import type { Action, WorldSpec } from './scenario.js';

export { INVARIANTS, DOCUMENTED_STEPS, REQUEST_BOUND_MS, SETTLE_MS } from './model.js';
export type { Violation, InvariantName, DocumentedStep } from './model.js';

export class World {
  readonly sched: Scheduler;
  readonly server: TokenServer;
  readonly violations: Violation[] = [];
  readonly parties: Party[] = [];
  readonly families = new Map<string, Family>();
  /** Current family per user session id ('tabs' for the tab world). */
  readonly current = new Map<string, Family>();
  readonly tokenOf = new Map<string, { family: Family; kind: 'rt' | 'at'; label: string; issuedAt: number }>();
  readonly stores = new Map<string, TokenStore>();
  readonly storeSubscribers = new Map<string, Map<number, { owner: Owner; listener: () => void }>>();
  readonly locks = new Map<string, RefreshLock>();
  /** Locks each party holds (granted, not yet released or taken over). */
  readonly heldLocks = new Map<Owner, Set<Grant>>();
  readonly calls: TokenCall[] = [];
  readonly requests: RequestRecord[] = [];
  readonly tokenFaults: TokenFault[] = [];
  /**
   * Faults that may make a request fail: at the token endpoint (anyone's request), or hitting
   * one party (its own store call, its own freeze or clock jump). A peer that freezes, dies or
   * loses notifications is no excuse: the protocol must survive it.
   */
  readonly excuses: { at: number; owner: Owner | null }[] = [];
  readonly pushed = new Map<string, { family: Family; expiresAt: number }>();
  /** Per party and user session id: the newest sign-in (family number) it has read from the store. */
  readonly seen = new Map<string, { version: number; family: Family }>();
  /** Reads delivered in the current step: they count as seen once the step's code has run. */
  readonly seenPending: { key: string; version: number; family: Family }[] = [];
  /** Refresh tokens (labels) whose store write never answered or threw → the party that tried. */
  readonly unstored = new Map<string, Owner>();
  /** Manager: per (instance, id), the last login/logout that settled there. */
  readonly signIns = new Map<string, { kind: 'login' | 'logout'; family: Family | null; settledAt: number; version: number }>();
  /** Per party and user session id: the last clear it made land, and the store version then. */
  readonly lastClear = new Map<string, { at: number; version: number }>();
  /** Per user session id: the last version its store wrote (a clear keeps it). */
  readonly storeVersions = new Map<string, number>();
  lastGrantChange = Number.NEGATIVE_INFINITY;
  /** The user's login()/logout() calls in tabs (one that never settles leaves the outcome open). */
  readonly signInsStarted: RequestRecord[] = [];
  healed = false;
  converging = false;
  clockJumps = 0;
  /** Times of refreshes the app forced (refresh(), sign-ins, pushes). */
  readonly forced: number[] = [];
  familyCount = 0;
  requestCount = 0;
  writer: Owner | null = null;
  subscriptionId = 0;
  pushCount = 0;
  /** The user's login()/logout() calls in tabs so far (the last one called decides). */
  signInCalls = 0;

  constructor(
    readonly lib: Library,
    readonly spec: WorldSpec,
    chooser: Chooser,
    start = Date.UTC(2026, 0, 1),
  ) {
    this.sched = new Scheduler(start, chooser);
    this.server = createTokenServer({
      accessTokenTtlSeconds: spec.ttlSeconds,
      reuseGraceMs: spec.grace ? 30_000 : 0,
      now: () => this.sched.now,
    });
  }

  // ── setup ────────────────────────────────────────────────────────────────────────────

  /** Install time, sign the user(s) in, open every party, schedule the scripted actions. */
  async open(): Promise<void> {
    this.sched.install();
    const ids = this.spec.kind === 'tabs' ? ['tabs'] : Array.from({ length: this.spec.ids }, (_, i) => `u${i}`);
    for (const id of ids) {
      this.stores.set(id, this.lib.memoryStore());
      if (this.spec.lock) this.locks.set(id, worldLock(this));
      const family = this.newFamily(id);
      const login = this.lastLogin!;
      const first = this.sched.runAs('world', () => this.stores.get(id)!.set(this.signIn(login, 0))) as StoredTokens;
      family.lastStoreVersion = first.version;
      this.storeVersions.set(id, first.version);
      this.current.set(id, family);
    }
    for (let i = 0; i < this.spec.parties; i++) {
      const clock = this.spec.clocks[i] ?? { offsetMs: 0, driftPpm: 0 };
      const party: Party = {
        owner: this.spec.kind === 'tabs' ? `s${i}` : `m${i}`,
        index: i,
        offsetMs: clock.offsetMs,
        driftPpm: clock.driftPpm,
        disposed: false,
        frozenSince: null,
        storeHang: 0,
        storeThrow: 0,
        dropNotify: 0,
        lostNotifications: 0,
        loggingOut: false,
        armedFreeze: null,
      };
      this.parties.push(party);
      await this.sched.settleAs(party.owner, () => {
        if (this.spec.kind === 'tabs') {
          const session = openSession(this.lib, {
            refresh: refresher(this, party),
            store: storeView(this, party, 'tabs'),
            ...(this.spec.lock ? { lock: lockView(this, party, 'tabs') } : {}),
            now: this.clock(party),
          });
          party.session = session;
          party.authFetch = openFetch(this.lib, session, resource(this, party));
          session.on('loggedOut', ({ reason }) => onLoggedOut(this, party, reason));
        } else {
          party.manager = openManager(this.lib, {
            refresh: refresher(this, party),
            store: (id) => storeView(this, party, id),
            ...(this.spec.lock ? { lock: (id: string) => lockView(this, party, id) } : {}),
            now: this.clock(party),
            maxSessions: this.spec.maxSessions,
          });
        }
      });
    }
    for (const action of this.spec.actions) {
      if (action.at >= this.spec.horizonMs) continue;
      // What a user does in a tab runs as that tab; faults are the world's.
      const owner = 'party' in action && USER_ACTIONS.has(action.type) ? this.parties[action.party % this.parties.length]!.owner : 'world';
      this.sched.at(this.sched.start + action.at, owner, describe(action), () => perform(this, action));
    }
    await Scheduler.flush();
  }

  lastLogin: { access_token: string; refresh_token: string; expires_in: number } | null = null;

  newFamily(id: string): Family {
    const login = this.server.login();
    this.lastLogin = login;
    const family: Family = {
      name: `F${++this.familyCount}`,
      id,
      birth: this.sched.now,
      rtIndex: 0,
      atIndex: 0,
      rotations: [],
      rotatedAway: new Map(),
      currentRt: login.refresh_token,
      revocationExplained: false,
      ended: false,
      tokenCalls: 0,
      faults: 0,
      documented: [],
    };
    this.families.set(family.name, family);
    this.name(login.refresh_token, family, 'rt');
    this.name(login.access_token, family, 'at');
    return family;
  }

  name(token: string, family: Family, kind: 'rt' | 'at'): string {
    const existing = this.tokenOf.get(token);
    if (existing) return existing.label;
    const label = kind === 'rt' ? `${family.name}.r${family.rtIndex++}` : `${family.name}.a${family.atIndex++}`;
    this.tokenOf.set(token, { family, kind, label, issuedAt: this.sched.now });
    return label;
  }

  /** A token's readable name (never the token: traces are printed). */
  label(token: string | undefined | null): string {
    if (!token) return '∅';
    return this.tokenOf.get(token)?.label ?? (this.pushed.has(token) ? token : '?');
  }

  /** Sign-in tokens, with the expiry the app computes (its clock, or the server's absolute time). */
  signIn(login: { access_token: string; refresh_token: string; expires_in: number }, partyIndex: number): TokenSet {
    const expiresAt = this.spec.expiry === 'expiresIn' ? this.partyNow(partyIndex) + login.expires_in * 1000 : this.sched.now + login.expires_in * 1000;
    return signInTokens(login.access_token, login.refresh_token, expiresAt);
  }

  partyNow(index: number): number {
    const party = this.parties[index];
    const clock = party ?? this.spec.clocks[index] ?? { offsetMs: 0, driftPpm: 0 };
    return this.sched.now + clock.offsetMs + Math.round((clock.driftPpm * (this.sched.now - this.sched.start)) / 1e6);
  }

  clock(party: Party): () => number {
    return () => this.partyNow(party.index);
  }

  readonly subscribedReal = new Set<string>();

  // ── end of a run ─────────────────────────────────────────────────────────────────────

  /** Run the scripted part: until the horizon, or until nothing can happen. */
  async play(): Promise<void> {
    const horizon = this.sched.start + this.spec.horizonMs;
    while (this.sched.steps < MAX_STEPS && this.violations.length === 0) {
      const moved = await this.sched.step(horizon);
      if (!moved) this.sched.advanceTo(horizon);
      checkStep(this);
      if (!moved) break;
    }
    if (this.sched.steps >= MAX_STEPS) violate(this, 'clock-rule', `the world did not settle: ${MAX_STEPS} steps by ${this.sched.stamp()} (a loop?)`);
  }

  /** Faults stop: frozen parties thaw, no more losses or hangs; the world runs on its own for SETTLE_MS. */
  async heal(): Promise<void> {
    this.healed = true;
    this.sched.setChooser(oldestFirst);
    this.tokenFaults.length = 0;
    for (const party of this.parties) {
      party.storeHang = 0;
      party.storeThrow = 0;
      party.dropNotify = 0;
      party.armedFreeze = null;
      if (party.frozenSince !== null) thaw(this, party);
    }
    this.sched.trace.push(`${this.sched.stamp()} — faults stop —`);
    await this.runFor(SETTLE_MS);
  }

  async runFor(ms: number): Promise<void> {
    const until = this.sched.now + ms;
    const limit = this.sched.steps + MAX_STEPS;
    while (this.sched.steps < limit && this.violations.length === 0) {
      const moved = await this.sched.step(until);
      if (!moved) this.sched.advanceTo(until);
      checkStep(this);
      if (!moved) break;
    }
    if (this.sched.steps >= limit)
      violate(this, 'clock-rule', `the world did not settle after the faults stopped: ${MAX_STEPS} steps by ${this.sched.stamp()} (a loop?)`);
  }

  /** Stop everything the run created. */
  async close(): Promise<void> {
    this.healed = true;
    for (const party of this.parties) {
      if (this.sched.isDead(party.owner)) continue;
      try {
        const done = party.session ? party.session.dispose() : party.manager?.dispose();
        void Promise.resolve(done).catch(() => undefined);
      } catch {
        // a broken copy may throw here; the run is over
      }
    }
    await Scheduler.flush();
    this.sched.uninstall();
  }

  /** Counts for the report. */
  get stats() {
    return { steps: this.sched.steps, tokenCalls: this.calls.length, requests: this.requests.length };
  }
}

export function describe(action: Action): string {
  const { at: _at, type, ...rest } = action as Action & Record<string, unknown>;
  const args = Object.entries(rest)
    .map(([k, v]) => (k === 'party' ? `${v as number}` : `${k}=${String(v)}`))
    .join(' ');
  return `▶ ${type}${args ? ` ${args}` : ''}`;
}
