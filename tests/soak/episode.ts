/**
 * One soak episode: a simulated stretch (an hour by default) of one token server and the
 * groups of sessions, cut into segments. In `chaos` segments every fault is injected at
 * random; `busy` (requests, no faults) and `idle` (nothing at all) segments are calm, and
 * the token-call rate is checked on them after a lead-in that lets the last chaos settle.
 * Time is vitest's fake clock, moved by this loop: nothing depends on the machine's speed.
 */
import { vi } from 'vitest';
import { testUrls } from '../../adapters/testing/index.js';
import { mock } from '../support/harness.js';
import type { Ledger } from './ledger.js';
import { createRandom, mix, type Random } from './random.js';
import { BOUNDS, createGroups, OPTIONS, Ops, type Clock, type Group, type SoakSession } from './sessions.js';
import { createTokenEndpoint, olderByClaims, type TokenEndpoint, type TokenFault, type TokenFormat } from './token-endpoint.js';

type SegmentKind = 'chaos' | 'busy' | 'idle';
interface Segment {
  kind: SegmentKind;
  start: number;
  end: number;
}

export interface EpisodeSummary {
  index: number;
  seed: number;
  lifetimeS: number;
  format: TokenFormat;
  server: 'strict' | 'grace';
  simulatedMs: number;
  segments: Record<SegmentKind, number>;
  tokenCalls: number;
  requests: number;
}

/** Calm stretches are measured from this long after they begin: the last backoffs and store retries settle first. */
export const LEAD_IN_MS = 90_000;
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Token calls a group may make in a calm window of `windowMs` (see docs/soak.md).
 * `offsetMs`: how far ahead of the clock that stamped an expiry a session's clock is (the
 * server's, for an absolute JWT `exp`; another instance's, for an expiry read from a store
 * shared across clocks). Such a session perceives a lifetime shorter by that much.
 */
export function rateBound(options: { windowMs: number; lifetimeMs: number; busy: boolean; keepAlive: boolean; offsetMs: number }): number {
  const { windowMs, lifetimeMs, busy, keepAlive, offsetMs } = options;
  const floor = OPTIONS.minRefreshIntervalMs;
  // The proactive schedule: leewayMs before expiry, never before half the lifetime, never sooner than the floor.
  const proactive = (lifetime: number) => Math.max(lifetime - Math.min(OPTIONS.leewayMs, lifetime / 2), floor);
  const perceived = lifetimeMs - Math.max(0, offsetMs);
  let period: number;
  if (!busy && !keepAlive) period = lifetimeMs;
  else if (perceived <= 0) {
    // Born expired where it arrives: used until a 401, one call per lifetime. But an expiry
    // read from a store shared with an instance whose clock is behind by more than a lifetime
    // looks past on arrival: the instance ahead refreshes the still valid token at once, so
    // each expiry costs two calls (a known limit: the stored expiry is an absolute time).
    return 2 * (Math.floor(windowMs / lifetimeMs) + 1);
  } else {
    const own = busy ? Math.min(perceived, proactive(perceived)) : proactive(perceived);
    // Never sooner than the floor, unless the token really lives less than the floor.
    period = Math.max(own, Math.min(lifetimeMs, floor));
  }
  return Math.floor(windowMs / Math.max(period, 1)) + 1;
}

export async function runEpisode(ledger: Ledger, seed: number, index: number, durationMs: number = HOUR): Promise<EpisodeSummary> {
  const random = createRandom(mix(seed, index));
  const plan = random.fork('plan');
  const faults = random.fork('faults');
  const lifetimeS = plan.pick([3, 10, 30, 60, 120, 300, 900]);
  const format = plan.pick<TokenFormat>(['opaque', 'jwt', 'jwt-iat', 'jwt-exp']);
  const reuseGraceMs = plan.chance(0.3) ? 30_000 : 0;
  const t0 = Date.now();
  const elapsed = () => Date.now() - t0;
  let segment: Segment = { kind: 'busy', start: 0, end: 0 };
  ledger.where = () => `[episode ${index}, ${(elapsed() / 1000).toFixed(1)} s]`;

  let groups: Group[] = [];
  const groupNamed = (name: string) => groups.find((g) => g.spec.name === name)!;
  const ops = new Ops(ledger, elapsed);
  const queue: { at: number; run: () => void }[] = [];
  const at = (time: number, run: () => void) => {
    let i = queue.length;
    while (i > 0 && queue[i - 1]!.at > time) i--;
    queue.splice(i, 0, { at: time, run });
  };

  const endpoint: TokenEndpoint = createTokenEndpoint({
    lifetimeS,
    format,
    reuseGraceMs,
    refreshTimeoutMs: OPTIONS.refreshTimeoutMs,
    random: random.fork('network'),
    ledger,
    elapsed,
    hooks: {
      fault: (name) => (segment.kind === 'chaos' && faults.chance(0.45) ? tokenFault(faults, groupNamed(name)) : null),
      pushDuring: (name) => push(groupNamed(name), faults, 'current'),
      storeEverHeld: (name, refreshToken) => groupNamed(name).store.everHeld(refreshToken),
      caller: (name) => groupNamed(name).caller,
    },
  });
  mock.resetHandlers();
  mock.use(...endpoint.handlers);

  const isLoggedOut = (s: SoakSession) => s.authFetch.getStatus().state === 'loggedOut';
  groups = createGroups({
    random,
    ledger,
    endpoint: () => endpoint,
    onLoggedOut(session, reason) {
      if (reason === 'logout') {
        ledger.check('no logout while the grant is valid', session.loggedOutByUser ? null : `${session.id} logged out with reason "logout" but logout() was not called`);
        return;
      }
      // Another session cleared the store: whether that clear was wrongful is checked where it
      // lands (onClear). (A clear that lands late, after a newer sign-in in a hung store, logs
      // the others out until the sign-in's write lands too: the store's own order.)
      if (reason === 'remote') return;
      const stored = endpoint.grantOf(session.group.store.peek()?.refreshToken);
      const valid = stored !== undefined && !stored.revoked && !session.loggedOutByUser;
      ledger.check('no logout while the grant is valid', valid ? `${session.id} logged out (${reason}) while its store holds grant ${stored.id}, still valid at the server` : null);
    },
    onClear(group, removed) {
      const grant = endpoint.grantOf(removed?.refreshToken);
      const wrongful = grant !== undefined && !grant.revoked && !group.sessions.some((s) => s.loggedOutByUser);
      ledger.check('no logout while the grant is valid', wrongful ? `the store of group ${group.spec.name} was cleared while it held grant ${grant.id}, still valid and not logged out by the user` : null);
    },
  });
  await vi.advanceTimersByTimeAsync(0);

  // ── what the driver does ────────────────────────────────────────────────────────────

  let requestNumber = 0;
  const request = (s: SoakSession, options: { calm: boolean; abortable: boolean }) => {
    const n = ++requestNumber;
    if (!options.calm && plan.chance(0.15)) {
      ops.track('getAccessToken', s, s.authFetch.getAccessToken(), { calm: options.calm });
      return;
    }
    const controller = new AbortController();
    let aborted = false;
    if (options.abortable && plan.chance(0.08)) {
      ledger.inject('app: request aborted');
      setTimeout(() => ((aborted = true), controller.abort()), plan.int(0, 3_000));
    }
    ops.track('request', s, s.authFetch(`${testUrls.api}/s/${s.id}/${n}`, { signal: controller.signal }), { calm: options.calm, aborted: () => aborted });
  };
  const login = (s: SoakSession) => {
    const group = s.group;
    const tokens = endpoint.login(group.spec.name);
    group.grant = tokens.grant;
    for (const member of group.sessions) member.loggedOutByUser = false;
    ledger.inject('app: login()');
    ledger.trace(() => `${s.id} login(): grant ${tokens.grant.id}, ${endpoint.label(tokens.accessToken)} ${endpoint.label(tokens.refreshToken)}`);
    const { grant: _, ...set } = tokens;
    s.busy = true;
    const done = s.authFetch.login(set);
    ops.track('login', s, done);
    void done.catch(() => undefined).finally(() => (s.busy = false));
  };
  const logout = (s: SoakSession) => {
    const group = s.group;
    // The user signs out everywhere; the server revokes the grant (as most apps do on logout).
    for (const member of group.sessions) member.loggedOutByUser = true;
    if (group.grant) endpoint.revoke(group.grant);
    ledger.inject('app: logout()');
    ledger.trace(() => `${s.id} logout(): grant ${group.grant?.id} revoked`);
    s.busy = true;
    const done = s.authFetch.logout();
    ops.track('logout', s, done);
    void done.catch(() => undefined).finally(() => (s.busy = false));
  };
  function push(group: Group, r: Random, age: 'current' | 'any'): void {
    const s = r.pick(group.sessions);
    const delivered = group.grant?.delivered ?? [];
    if (s.busy || s.loggedOutByUser || delivered.length === 0) return;
    const latest = delivered[delivered.length - 1]!;
    // Older full sets only where the client can tell them older (JWT claims): with opaque
    // tokens the last one handed over wins (documented), so an old refresh token pushed is the app's own doing.
    const older = delivered.filter((d) => olderByClaims(d, latest));
    const kind =
      age === 'current'
        ? r.pick(['current-access', 'current-full'] as const)
        : r.weighted({ 'current-access': 3, 'current-full': 2, 'older-access': delivered.length > 1 ? 2 : 0, 'older-full': older.length > 0 ? 2 : 0 });
    const pick = kind.startsWith('older') ? r.pick(kind === 'older-full' ? older : delivered.slice(0, -1)) : latest;
    ledger.inject(kind.startsWith('older') ? 'push: older tokens' : 'push: current tokens');
    ledger.trace(() => `${s.id} updateTokens(${kind}): ${endpoint.label(pick.accessToken)}${kind.endsWith('full') ? ` ${endpoint.label(pick.refreshToken)}` : ''}`);
    s.busy = true;
    const done = s.authFetch.updateTokens(kind.endsWith('full') ? { accessToken: pick.accessToken, refreshToken: pick.refreshToken } : { accessToken: pick.accessToken });
    ops.track('updateTokens', s, done);
    void done.catch(() => undefined).finally(() => (s.busy = false));
  }
  const jump = (clock: Clock, sessions: SoakSession[], r: Random) => {
    const size = r.weighted({ seconds: 3, lifetime: 3, hours: 2, reset: 1 });
    const sign = r.chance(0.5) ? 1 : -1;
    const delta =
      size === 'reset' ? -clock.skewMs : size === 'seconds' ? sign * r.int(1, 120) * SECOND : size === 'lifetime' ? sign * (lifetimeS * SECOND + r.int(-5_000, 5_000)) : sign * r.int(1, 24) * HOUR;
    if (delta === 0) return;
    clock.skewMs += delta;
    ledger.inject(delta > 0 ? 'clock: jump forward' : 'clock: jump back');
    ledger.trace(() => `clock of ${sessions.map((x) => x.id).join(', ')} jumps ${Math.round(delta / 1000)} s (skew now ${Math.round(clock.skewMs / 1000)} s)`);
    // A clock that leapt ahead is what a host sees after sleeping: it says so.
    if (delta > 0) for (const s of sessions) s.wake();
  };

  // ── segments ────────────────────────────────────────────────────────────────────────

  const segments: Segment[] = [];
  for (let start = 0; start < durationMs; ) {
    const kind = plan.weighted<SegmentKind>({ chaos: 5, busy: 3, idle: 2 });
    const end = Math.min(durationMs, start + plan.int(5, 12) * MINUTE);
    segments.push({ kind, start, end });
    start = end;
  }
  const counts: Record<SegmentKind, number> = { chaos: 0, busy: 0, idle: 0 };
  const every = (meanMs: number, from: number, until: number, run: (time: number) => void, r: Random = plan) => {
    for (let time = from + r.exponential(meanMs); time < until; time += r.exponential(meanMs)) at(time, () => run(time));
  };
  const sessions = () => groups.flatMap((g) => g.sessions);

  const begin = (next: Segment) => {
    segment = next;
    ledger.trace(() => `segment ${next.kind} until ${next.end / 1000} s`);
    counts[next.kind]++;
    const { start, end } = next;
    if (next.kind !== 'chaos') {
      // Calm: stores answer, and every group is signed in with a valid grant.
      for (const group of groups) group.store.setMode({ kind: 'healthy' });
      for (const group of groups) if (!group.grant || group.grant.revoked || group.sessions.some(isLoggedOut)) login(group.sessions[0]!);
      if (next.kind === 'busy') {
        for (const s of sessions()) {
          const gap = plan.int(2, 10) * SECOND;
          every(gap, start, end, (time) => request(s, { calm: time >= start + LEAD_IN_MS, abortable: false }));
        }
      }
      at(end, () => checkRate(next));
      return;
    }
    const quiet = plan.chance(0.2);
    for (const s of sessions()) {
      if (!quiet) {
        const gap = plan.int(1_000, 10_000);
        every(gap, start, end, () => request(s, { calm: false, abortable: true }));
      }
      every(3 * MINUTE, start, end, () => {
        ledger.inject('app: refresh()');
        ops.track('refresh', s, s.authFetch.refresh());
      });
    }
    for (const group of groups) {
      every(2 * MINUTE, start, end, (time) => {
        const mode = faults.weighted({ slow: 4, hang: 3, failingWrites: 2 });
        const lasts = mode === 'slow' ? faults.int(20, 90) * SECOND : mode === 'hang' ? faults.int(3, 30) * SECOND : faults.int(5, 60) * SECOND;
        if (group.store.mode.kind !== 'healthy') return;
        ledger.inject(mode === 'slow' ? 'store: slow' : mode === 'hang' ? 'store: hang' : 'store: writes throw');
        group.store.setMode(mode === 'slow' ? { kind: 'slow', minMs: 50, maxMs: 2_000 } : { kind: mode });
        ledger.trace(() => `store of ${group.spec.name}: ${mode} for ${lasts / 1000} s`);
        at(Math.min(end, time + lasts), () => {
          group.store.setMode({ kind: 'healthy' });
          ledger.trace(() => `store of ${group.spec.name}: healthy`);
        });
      });
      for (const clock of group.clocks) every(3 * MINUTE, start, end, () => jump(clock, group.sessions.filter((s) => s.clock === clock), faults));
      every(2 * MINUTE, start, end, () => push(group, faults, 'any'));
      every(8 * MINUTE, start, end, (time) => {
        const s = faults.pick(group.sessions);
        if (s.busy || s.loggedOutByUser) return;
        logout(s);
        const back = time + faults.int(1, 90) * SECOND;
        if (back < end) at(back, () => !faults.pick(group.sessions).busy && login(faults.pick(group.sessions)));
      });
      every(15 * MINUTE, start, end, () => {
        const s = faults.pick(group.sessions);
        if (!s.busy) login(s);
      });
    }
    every(4 * MINUTE, start, end, () => {
      ledger.inject('herd: every access token expires');
      endpoint.server.expireAccessTokens();
    });
  };

  const checkRate = (calm: Segment) => {
    const from = calm.start + LEAD_IN_MS;
    const windowMs = calm.end - from;
    if (windowMs <= 0) return;
    for (const group of groups) {
      const calls = (endpoint.callTimes.get(group.spec.name) ?? []).filter((t) => t >= from && t < calm.end).length;
      // Who stamps the expiries each session reads: the server (absolute exp) or the session
      // itself (a lifetime from receipt), and every clock of the group when they share a store.
      const stampers = (reader: Clock) => [...(format === 'jwt-exp' ? [0] : [reader.skewMs]), ...(group.sessions.length > 1 ? group.clocks.map((c) => c.skewMs) : [])];
      const offsetMs = Math.max(...group.clocks.flatMap((reader) => stampers(reader).map((stamp) => reader.skewMs - stamp)));
      const bound = rateBound({ windowMs, lifetimeMs: lifetimeS * SECOND, busy: calm.kind === 'busy', keepAlive: group.spec.keepAlive, offsetMs });
      const skews = group.clocks.map((c) => `${Math.round(c.skewMs / 1000)} s`).join(', ');
      ledger.check(
        'token calls per hour within the bound',
        calls > bound ? `group ${group.spec.name}: ${calls} token calls in a calm ${calm.kind} window of ${(windowMs / 1000).toFixed(0)} s (bound ${bound}; lifetime ${lifetimeS} s, format ${format}, clock skew ${skews})` : null,
      );
    }
  };

  for (const s of segments) at(s.start, () => begin(s));

  // ── the loop ────────────────────────────────────────────────────────────────────────

  let now = 0;
  while (now < durationMs) {
    const target = Math.min(queue[0]?.at ?? Infinity, now + SECOND, durationMs);
    if (target > now) await vi.advanceTimersByTimeAsync(target - now);
    now = target;
    while (queue.length > 0 && queue[0]!.at <= now) queue.shift()!.run();
    ops.checkOverdue();
  }

  // Drain: no more faults; every call still open must settle within its bound.
  segment = { kind: 'idle', start: now, end: now };
  queue.length = 0;
  for (const group of groups) group.store.setMode({ kind: 'healthy' });
  const longest = Math.max(...Object.values(BOUNDS));
  for (let waited = 0; waited <= longest + 5 * SECOND && ops.pending > 0; waited += SECOND) {
    await vi.advanceTimersByTimeAsync(SECOND);
    ops.checkOverdue();
  }
  const summary: EpisodeSummary = {
    index,
    seed,
    lifetimeS,
    format,
    server: reuseGraceMs > 0 ? 'grace' : 'strict',
    simulatedMs: durationMs,
    segments: counts,
    tokenCalls: endpoint.server.stats.refreshCalls,
    requests: ops.started,
  };
  await Promise.all(sessions().map((s) => s.authFetch.dispose()));
  await vi.advanceTimersByTimeAsync(0);
  return summary;
}

/** The fault of one token call in a chaos segment. */
function tokenFault(random: Random, group: Group): TokenFault {
  return random.weighted<TokenFault>({
    unavailable: 3,
    rateLimited: 2,
    reset: 2,
    hang: 1.5,
    slow: 2,
    lostResponse: 1,
    lateRotation: 0.7,
    bornExpired: 1.5,
    pushDuring: (group.grant?.delivered.length ?? 0) > 0 ? 1.5 : 0,
  });
}
