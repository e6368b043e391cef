/**
 * One soak episode: a simulated stretch (an hour by default) of one token server and the
 * groups of sessions, cut into segments. In `chaos` segments every fault is injected at
 * random; `busy` (requests, no faults) and `idle` (nothing at all) segments are calm, and
 * the token-call rate is checked on them after a lead-in that lets the last chaos settle.
 * Time is vitest's fake clock, moved by this loop: nothing depends on the machine's speed.
 */
import { vi } from 'vitest';
import { mock } from '../support/harness.js';
import type { Ledger } from './ledger.js';
import { createRandom, mix, type Random } from './random.js';
import { BOUNDS, createGroups, OPTIONS, Ops, type Clock, type Group, type SoakSession } from './sessions.js';
import { createDriver, type Driver } from './driver.js';
import { rateBound } from './rate-bound.js';
import { createTokenEndpoint, type TokenEndpoint, type TokenFault, type TokenFormat } from './token-endpoint.js';

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

  let driver: Driver | undefined;
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
      pushDuring: (name) => driver?.push(groupNamed(name), faults, 'current'),
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
        ledger.check(
          'no logout while the grant is valid',
          session.loggedOutByUser ? null : `${session.id} logged out with reason "logout" but logout() was not called`,
        );
        return;
      }
      // Another session cleared the store: whether that clear was wrongful is checked where it
      // lands (onClear). (A clear that lands late, after a newer sign-in in a hung store, logs
      // the others out until the sign-in's write lands too: the store's own order.)
      if (reason === 'remote') return;
      const stored = endpoint.grantOf(session.group.store.peek()?.refreshToken);
      const valid = stored !== undefined && !stored.revoked && !session.loggedOutByUser;
      ledger.check(
        'no logout while the grant is valid',
        valid ? `${session.id} logged out (${reason}) while its store holds grant ${stored.id}, still valid at the server` : null,
      );
    },
    onClear(group, removed) {
      const grant = endpoint.grantOf(removed?.refreshToken);
      const wrongful = grant !== undefined && !grant.revoked && !group.sessions.some((s) => s.loggedOutByUser);
      ledger.check(
        'no logout while the grant is valid',
        wrongful ? `the store of group ${group.spec.name} was cleared while it held grant ${grant.id}, still valid and not logged out by the user` : null,
      );
    },
  });
  await vi.advanceTimersByTimeAsync(0);

  driver = createDriver({ ledger, ops, endpoint, random: plan, lifetimeS });
  const { request, login, logout, push, jump } = driver;

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
      // Calm: stores answer, and every group is signed in with a valid grant, again during the
      // lead-in (the last chaos may still end a grant: a lost response found out late).
      for (const group of groups) group.store.setMode({ kind: 'healthy' });
      const heal = () => {
        for (const group of groups) if (!group.grant || group.grant.revoked || group.sessions.some(isLoggedOut)) login(group.sessions[0]!);
      };
      heal();
      for (const after of [LEAD_IN_MS / 3, (2 * LEAD_IN_MS) / 3]) if (start + after < end) at(start + after, heal);
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
      for (const clock of group.clocks)
        every(3 * MINUTE, start, end, () =>
          jump(
            clock,
            group.sessions.filter((s) => s.clock === clock),
            faults,
          ),
        );
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
      const stampers = (reader: Clock) => [
        ...(format === 'jwt-exp' ? [0] : [reader.skewMs]),
        ...(group.sessions.length > 1 ? group.clocks.map((c) => c.skewMs) : []),
      ];
      const offsetMs = Math.max(...group.clocks.flatMap((reader) => stampers(reader).map((stamp) => reader.skewMs - stamp)));
      const bound = rateBound({ windowMs, lifetimeMs: lifetimeS * SECOND, busy: calm.kind === 'busy', keepAlive: group.spec.keepAlive, offsetMs });
      const skews = group.clocks.map((c) => `${Math.round(c.skewMs / 1000)} s`).join(', ');
      ledger.check(
        'token calls per hour within the bound',
        calls > bound
          ? `group ${group.spec.name}: ${calls} token calls in a calm ${calm.kind} window of ${(windowMs / 1000).toFixed(0)} s (bound ${bound}; lifetime ${lifetimeS} s, format ${format}, clock skew ${skews})`
          : null,
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
