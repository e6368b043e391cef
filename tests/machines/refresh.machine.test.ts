import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  defaultRefreshOptions,
  refreshMachine,
  selectSessionStatus,
  type RefreshEmitted,
  type RefreshFailure,
  type RefreshInput,
  type RefreshSuccess,
} from '../../machines/refresh.machine.js';

/** The machine alone, with a scripted refresh actor and a simulated clock. */
function run(outcomes: (RefreshSuccess | RefreshFailure)[]) {
  const clock = new SimulatedClock();
  const emitted: RefreshEmitted[] = [];
  let started = 0;
  const machine = refreshMachine.provide({
    actors: {
      refresh: fromPromise<RefreshSuccess, RefreshInput>(async () => {
        const outcome = outcomes[started++];
        if (!outcome) throw new Error('no scripted outcome');
        if ('kind' in outcome) throw outcome;
        return outcome;
      }),
    },
  });
  const actor = createActor(machine, { clock, input: { tokenVersion: 1 } });
  actor.on('*', (e) => emitted.push(e as RefreshEmitted));
  actor.start();
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { actor, clock, emitted, settle, starts: () => started };
}

const ok = (tokenVersion: number): RefreshSuccess => ({ tokenVersion, expiresAt: null, refreshAt: null, source: 'server' });
const permanent: RefreshFailure = { kind: 'permanent', code: 'REFRESH_FAILED', reason: 'invalid_grant' };
const transient: RefreshFailure = { kind: 'transient', code: 'REFRESH_FAILED', reason: 'HTTP_503' };

describe('the statechart alone', () => {
  it('a fresh 401 debounces for exactly debounceMs, then refreshes once and releases the queue', async () => {
    const m = run([ok(2)]);
    m.actor.send({ type: 'UNAUTHORIZED', tokenVersion: 1, requestId: 'a' });
    m.clock.increment(60);
    m.actor.send({ type: 'UNAUTHORIZED', tokenVersion: 1, requestId: 'b' });
    m.clock.increment(39);
    expect(m.actor.getSnapshot().value).toBe('debouncing');
    m.clock.increment(1);
    expect(m.actor.getSnapshot().value).toBe('refreshing');
    m.actor.send({ type: 'UNAUTHORIZED', tokenVersion: 1, requestId: 'c' });
    expect(m.actor.getSnapshot().context.queued).toBe(3);
    await m.settle();
    expect(m.actor.getSnapshot().value).toBe('idle');
    expect(m.starts()).toBe(1);
    expect(m.emitted.filter((e) => e.type === 'queue.release')).toEqual([{ type: 'queue.release', tokenVersion: 2 }]);
    expect(m.actor.getSnapshot().context).toMatchObject({ queued: 0, tokenVersion: 2, attempt: 0 });
  });

  it('a stale 401 in idle is replayed with no transition', () => {
    const m = run([]);
    m.actor.send({ type: 'LOGIN', tokenVersion: 5 });
    m.actor.send({ type: 'UNAUTHORIZED', tokenVersion: 4, requestId: 'old' });
    expect(m.actor.getSnapshot().value).toBe('idle');
    expect(m.emitted.at(-1)).toEqual({ type: 'request.replay', requestId: 'old', tokenVersion: 5 });
  });

  it('three permanent failures: backoff(1), backoff(2), loggedOut', async () => {
    const m = run([permanent, permanent, permanent]);
    m.actor.send({ type: 'REFRESH' });
    await m.settle();
    expect(m.actor.getSnapshot()).toMatchObject({ value: 'backoff', context: { attempt: 1, permanentFailures: 1 } });
    m.clock.increment(1000);
    await m.settle();
    expect(m.actor.getSnapshot()).toMatchObject({ value: 'backoff', context: { attempt: 2, permanentFailures: 2 } });
    m.clock.increment(2000);
    await m.settle();
    expect(m.actor.getSnapshot()).toMatchObject({ value: 'loggedOut', context: { loggedOutReason: 'permanentFailures' } });
    expect(selectSessionStatus(m.actor.getSnapshot())).toBe('loggedOut');
    expect(m.emitted.filter((e) => e.type === 'queue.reject')).toEqual([{ type: 'queue.reject', code: 'SESSION_EXPIRED' }]);
  });

  it('four transient failures: 1 s, 2 s, 4 s, then REFRESH_UNAVAILABLE and back to idle', async () => {
    const m = run([transient, transient, transient, transient]);
    m.actor.send({ type: 'REFRESH', requestId: 'w' });
    for (const wait of [1000, 2000, 4000]) {
      await m.settle();
      expect(m.actor.getSnapshot().value).toBe('backoff');
      m.clock.increment(wait - 1);
      expect(m.actor.getSnapshot().value).toBe('backoff');
      m.clock.increment(1);
    }
    await m.settle();
    expect(m.actor.getSnapshot()).toMatchObject({ value: 'idle', context: { attempt: 0, queued: 0 } });
    expect(m.emitted.filter((e) => e.type === 'queue.reject')).toEqual([{ type: 'queue.reject', code: 'REFRESH_UNAVAILABLE' }]);
  });

  it('a failure with no refresh token to present logs out at once', async () => {
    const m = run([{ kind: 'permanent', code: 'REFRESH_FAILED', reason: 'NO_REFRESH_TOKEN', sessionGone: true }]);
    m.actor.send({ type: 'REFRESH' });
    await m.settle();
    expect(m.actor.getSnapshot()).toMatchObject({ value: 'loggedOut', context: { loggedOutReason: 'noRefreshToken' } });
  });

  it('TOKENS_UPDATED during a refresh releases the queue but lets the refresh in flight finish', async () => {
    let resolve!: (v: RefreshSuccess) => void;
    const machine = refreshMachine.provide({ actors: { refresh: fromPromise<RefreshSuccess, RefreshInput>(() => new Promise((r) => (resolve = r))) } });
    const actor = createActor(machine, { input: { tokenVersion: 1 } }).start();
    const released: number[] = [];
    actor.on('queue.release', (e) => released.push(e.tokenVersion));
    actor.send({ type: 'REFRESH', requestId: 'a' });
    actor.send({ type: 'TOKENS_UPDATED', tokenVersion: 2 });
    expect(actor.getSnapshot().value).toBe('refreshing');
    expect(released).toEqual([2]);
    resolve(ok(3));
    await new Promise((r) => setTimeout(r, 0));
    expect(actor.getSnapshot()).toMatchObject({ value: 'idle', context: { tokenVersion: 3 } });
  });

  it('backoff delay: base × factor^(n-1), at least Retry-After, at most maxBackoffMs, jitter only shortens', () => {
    const options = { ...defaultRefreshOptions };
    expect([1, 2, 3].map((attempt) => backoffDelay({ options, attempt, lastError: null }))).toEqual([1000, 2000, 4000]);
    expect(backoffDelay({ options, attempt: 1, lastError: { kind: 'transient', code: 'REFRESH_FAILED', reason: 'x', retryAfterMs: 5000 } })).toBe(5000);
    expect(backoffDelay({ options, attempt: 1, lastError: { kind: 'transient', code: 'REFRESH_FAILED', reason: 'x', retryAfterMs: 10 ** 9 } })).toBe(30_000);
    expect(backoffDelay({ options: { ...options, jitter: 1 }, attempt: 3, lastError: null }, () => 0.5)).toBe(2000);
  });
});

describe('R13: proactive refresh follows activity', () => {
  const withExpiry = (keepAlive: boolean) => {
    const m = run([ok(2), ok(3)]);
    const actor = createActor(refreshMachine.provide({ actors: { refresh: fromPromise<RefreshSuccess, RefreshInput>(async () => ok(2)) } }), {
      clock: m.clock,
      input: { tokenVersion: 1, keepAlive },
    });
    actor.start();
    // The machine's own guard reads Date.now: a refreshAt in the past is due.
    actor.send({ type: 'TOKENS_UPDATED', tokenVersion: 1, expiresAt: Date.now() + 60_000, refreshAt: Date.now() - 1 });
    return { actor, clock: m.clock };
  };

  it('an unused token is not refreshed by the timer; its first use refreshes it when due', async () => {
    const { actor, clock } = withExpiry(false);
    expect(actor.getSnapshot().context.inUse).toBe(false);
    clock.increment(3_600_000);
    expect(actor.getSnapshot().value).toBe('idle');
    actor.send({ type: 'TOKEN_USED' });
    expect(actor.getSnapshot()).toMatchObject({ value: 'refreshing', context: { trigger: 'proactive', inUse: true } });
    await new Promise((r) => setTimeout(r, 0));
    // New tokens: not in use until a request uses them.
    expect(actor.getSnapshot()).toMatchObject({ value: 'idle', context: { inUse: false, tokenVersion: 2 } });
  });

  it('keepAlive: the timer refreshes without any use', () => {
    const { actor, clock } = withExpiry(true);
    clock.increment(1);
    expect(actor.getSnapshot()).toMatchObject({ value: 'refreshing', context: { trigger: 'proactive' } });
  });

  it('a use before the refresh time arms the timer, and a second use changes nothing', () => {
    const m = run([ok(2)]);
    const actor = createActor(refreshMachine.provide({ actors: { refresh: fromPromise<RefreshSuccess, RefreshInput>(async () => ok(2)) } }), {
      clock: m.clock,
      input: { tokenVersion: 1 },
    });
    actor.start();
    actor.send({ type: 'TOKENS_UPDATED', tokenVersion: 1, expiresAt: Date.now() + 3_600_000, refreshAt: Date.now() + 3_570_000 });
    actor.send({ type: 'TOKEN_USED' });
    expect(actor.getSnapshot()).toMatchObject({ value: 'idle', context: { inUse: true } });
    actor.send({ type: 'TOKEN_USED' });
    expect(actor.getSnapshot().value).toBe('idle');
  });
});

describe('machines/ imports nothing but xstate', () => {
  it('every import in machines/*.ts is xstate', () => {
    const dir = fileURLToPath(new URL('../../machines/', import.meta.url));
    const sources = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(sources.length).toBeGreaterThan(0);
    for (const file of sources) {
      const text = readFileSync(dir + file, 'utf8');
      const specifiers = [
        ...text.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g),
      ].map((m) => m[1] ?? m[2] ?? m[3]);
      for (const specifier of specifiers) expect(specifier, `${file} imports ${specifier}`).toMatch(/^xstate(\/|$)/);
    }
  });
});
