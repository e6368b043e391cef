/**
 * Runs one generated path against the real system (see world.ts) and checks, after every
 * step, that the real machine took the transitions the model took and that the outside
 * world saw what the model says it should: token calls, the refresh token presented, which
 * requests wait, were released, replayed or rejected.
 */
import { vi } from 'vitest';
import { isAuthchartError, type ErrorCode } from '../../adapters/index.js';
import { MAX_TIMER_MS, proactiveDelay } from '../../machines/refresh.machine.js';
import {
  FAILURES,
  WORLD_OPTIONS,
  describeEvent,
  specDelay,
  stateName,
  transitionId,
  type FailureVariant,
  type GeneratedPath,
  type ModelStep,
} from './model.js';
import type { TrackedRequest, World } from './world.js';

/** Fake milliseconds an instantaneous step takes (so that a window a step wrongly extends shows). */
const STEP_MS = 5;
/** Held requests kept per token version, for the 401s a path will deliver later. */
const POOL = 4;

type Expectation = 'pending' | 'ok' | 'abort' | ErrorCode;

interface Expected {
  refreshCalls: number;
  acquisitions: number;
  /** The refresh token each server-side refresh call must have presented. */
  presented: string[];
  outcomes: Map<TrackedRequest, Expectation>;
}

export interface PathResult {
  /** Transition ids the real actor took during the path's steps. */
  taken: string[];
}

export class StepError extends Error {}

function fail(message: string): never {
  throw new StepError(message);
}

function check(condition: boolean, message: () => string): void {
  if (!condition) fail(message());
}

const realTaken = (world: World, from: number): string[] =>
  world.inspections
    .slice(from)
    .filter((e) => e.type === '@xstate.microstep')
    .flatMap((e) => (e as unknown as { _transitions: Parameters<typeof transitionId>[0][] })._transitions.map(transitionId));

function heldRequest(world: World, predicate: (r: TrackedRequest) => boolean, what: string): TrackedRequest {
  const found = world.requests.find((r) => r.phase === 'held' && !r.settled && predicate(r));
  if (!found) fail(`[harness] no held request ${what} (pool too small for this path)`);
  return found;
}

async function topUpPool(world: World): Promise<void> {
  const status = world.authFetch.getStatus();
  // Sending uses the token: only once the model's TOKEN_USED step has (R13).
  if (status.state !== 'idle' || !world.authFetch.session.actor.getSnapshot().context.inUse) return;
  const atVersion = world.requests.filter((r) => r.phase === 'held' && !r.settled && r.sentVersion === status.tokenVersion).length;
  for (let i = atVersion; i < POOL; i++) world.send({ hold: true });
  if (atVersion < POOL) await world.settle();
}

/** Execute the world action behind one model event. Returns the request the step is about, if any. */
async function execute(world: World, step: ModelStep, expected: Expected): Promise<TrackedRequest | undefined> {
  const { event, before } = step;
  const state = stateName(before);
  const presentRefreshToken = async () => {
    const stored = await world.store.get();
    expected.presented.push(stored?.refreshToken ?? '(none)');
    expected.refreshCalls++;
  };

  if (event.type.startsWith('xstate.after.')) {
    const timer = world.timer;
    check(timer?.eventType === event.type, () => `[harness] no armed timer for ${event.type} (armed: ${timer?.eventType ?? 'none'})`);
    const remaining = timer!.armedAt + timer!.delay - world.elapsed;
    const refreshAt = world.authFetch.session.actor.getSnapshot().context.refreshAt;
    if (event.type.includes('.proactive.') && refreshAt !== null) {
      const firesAt = Date.now() + remaining;
      // The wall clock decides the guard: a sleep can carry it past refreshAt, an NTP step back before it.
      if (event.variant === 'due' && firesAt < refreshAt!) vi.setSystemTime(refreshAt! - remaining);
      if (event.variant === 'notDue' && firesAt >= refreshAt!) vi.setSystemTime(refreshAt! - remaining - 60_000);
    }
    const valueBefore = stateName(world.authFetch.session.actor.getSnapshot());
    const acquisitions = world.lock.acquisitions;
    if (remaining > 1) await world.advance(remaining - 1);
    const early = world.authFetch.session.actor.getSnapshot();
    check(
      stateName(early) === valueBefore && world.lock.acquisitions === acquisitions,
      () => `${event.type} fired before its ${timer!.delay} ms: the real machine is in ${stateName(early)} 1 ms early`,
    );
    await world.advance(Math.min(1, Math.max(0, remaining)));
    await world.settle();
    return undefined;
  }

  if (event.type.startsWith('xstate.done.actor.')) {
    if (event.variant === 'store') {
      // Another tab refreshed while we waited for the lock; its notice has not arrived yet.
      // Its call is the only one: ours must find its tokens in the store and not call the server.
      world.store.holdNotices();
      await presentRefreshToken();
      const other = world.otherTabRefresh();
      await world.settle();
      await other;
      world.lock.grant();
      await world.settle();
      world.store.deliverNotices();
      await world.settle();
    } else {
      await presentRefreshToken();
      world.lock.grant();
      await world.settle();
    }
    return undefined;
  }

  if (event.type.startsWith('xstate.error.actor.')) {
    const variant = event.variant as FailureVariant;
    switch (variant) {
      case 'unavailable':
        world.server.fault({ type: 'unavailable' });
        break;
      case 'rateLimited':
        world.server.fault({ type: 'rateLimited', retryAfterSeconds: FAILURES.rateLimited.retryAfterMs / 1000 });
        break;
      case 'reset':
        world.server.fault({ type: 'reset' });
        break;
      case 'invalidGrant':
        world.server.fault({ type: 'invalidGrant' });
        break;
      case 'timeout':
        world.hangNext();
        break;
      case 'dpopNonce':
        // Refused before the token server's logic: nothing is presented to it, nothing rotates.
        world.askForNonceNext();
        break;
      case 'sessionGone':
        // Another tab signed out; its notice has not arrived when our refresh reads the store.
        world.store.holdNotices();
        await world.store.clear();
        break;
    }
    if (variant !== 'timeout' && variant !== 'sessionGone' && variant !== 'dpopNonce') await presentRefreshToken();
    world.lock.grant();
    await world.settle();
    if (variant === 'timeout') {
      await world.advance(WORLD_OPTIONS.refreshTimeoutMs - 1);
      check(world.authFetch.getStatus().state === 'refreshing', () => `the refresh gave up before refreshTimeoutMs (${WORLD_OPTIONS.refreshTimeoutMs} ms)`);
      await world.advance(1);
      await world.settle();
    }
    if (variant === 'sessionGone') {
      world.store.deliverNotices();
      await world.settle();
    }
    return undefined;
  }

  switch (`${event.type}:${event.variant}`) {
    case 'UNAUTHORIZED:fresh': {
      const request = heldRequest(world, (r) => r.sentVersion === before.context.tokenVersion, `sent with the current token v${before.context.tokenVersion}`);
      world.release(request);
      await world.settle();
      return request;
    }
    case 'UNAUTHORIZED:stale': {
      const request = heldRequest(world, (r) => r.sentVersion! < before.context.tokenVersion, `sent with a token older than v${before.context.tokenVersion}`);
      world.release(request);
      await world.settle();
      return request;
    }
    case 'UNAUTHORIZED:noWaiter': {
      // A one-shot stream body cannot wait to be replayed; its 401 still starts the refresh.
      const request = world.sendStream();
      await world.settle();
      return request;
    }
    case 'REFRESH:waiter': {
      const request = state === 'idle' || state === 'loggedOut' ? world.refreshCall() : world.send();
      await world.settle();
      return request;
    }
    case 'REQUEST_LEFT:abort': {
      const waiting = world.requests.filter((r) => expected.outcomes.get(r) === 'pending' && r.phase === 'queued');
      const request = waiting.at(-1);
      if (!request) fail('[harness] no waiting request to abort');
      request.controller.abort();
      await world.settle();
      return request;
    }
    case 'LOGIN:login': {
      const tokens = world.server.login();
      const done = world.authFetch.login({
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token,
        expiresAt: Date.now() + tokens.expires_in * 1000,
        tokenType: tokens.token_type,
      });
      await world.settle();
      await done;
      return undefined;
    }
    case 'LOGOUT:user': {
      const done = world.authFetch.logout();
      await world.settle();
      await done;
      return undefined;
    }
    case 'LOGOUT:remote':
      await world.store.clear();
      await world.settle();
      return undefined;
    case 'TOKENS_UPDATED:otherTab': {
      await presentRefreshToken();
      const other = world.otherTabRefresh();
      await world.settle();
      await other;
      await world.settle();
      return undefined;
    }
    case 'TOKEN_USED:due':
    case 'TOKEN_USED:notDue': {
      const refreshAt = world.authFetch.session.actor.getSnapshot().context.refreshAt;
      if (refreshAt !== null && event.variant === 'due' && Date.now() < refreshAt) vi.setSystemTime(refreshAt);
      if (refreshAt !== null && event.variant === 'notDue' && Date.now() >= refreshAt) vi.setSystemTime(refreshAt - 60_000);
      // The first request sent with the current token.
      world.send({ hold: true });
      await world.settle();
      return undefined;
    }
    case 'WAKE:due':
    case 'WAKE:notDue': {
      const refreshAt = world.authFetch.session.actor.getSnapshot().context.refreshAt!;
      if (event.variant === 'due' && Date.now() < refreshAt) vi.setSystemTime(refreshAt);
      if (event.variant === 'notDue' && Date.now() >= refreshAt) vi.setSystemTime(refreshAt - 60_000);
      world.wake();
      await world.settle();
      return undefined;
    }
    default:
      fail(`[harness] no world action for ${describeEvent(event)}`);
  }
}

/** What the model's step means for the requests: who waits, who is released, replayed or rejected. */
function expectOutcomes(world: World, step: ModelStep, subject: TrackedRequest | undefined, expected: Expected): void {
  const { outcomes } = expected;
  if (subject) {
    if (!outcomes.has(subject) || outcomes.get(subject) === 'pending') outcomes.set(subject, 'pending');
    if (step.event.type === 'REQUEST_LEFT') outcomes.set(subject, 'abort');
    else if (step.event.variant === 'noWaiter') outcomes.set(subject, 'NON_REPLAYABLE_BODY');
    else subject.phase = subject.settled ? 'settled' : 'queued';
  }
  for (const emitted of step.emitted) {
    switch (emitted.type) {
      case 'request.replay':
        if (subject) outcomes.set(subject, 'ok');
        break;
      case 'request.reject':
        if (subject) outcomes.set(subject, 'SESSION_EXPIRED');
        break;
      case 'queue.release':
        for (const [request, outcome] of outcomes) if (outcome === 'pending' && request.phase !== 'held') outcomes.set(request, 'ok');
        break;
      case 'queue.reject':
        for (const [request, outcome] of outcomes) if (outcome === 'pending' && request.phase !== 'held') outcomes.set(request, emitted.code as ErrorCode);
        break;
    }
  }
  for (const request of world.requests) if (!outcomes.has(request)) outcomes.set(request, 'pending');
}

function checkRequests(world: World, expected: Expected): void {
  for (const request of world.requests) {
    const want = expected.outcomes.get(request) ?? 'pending';
    const label = `request ${request.id} (${request.kind}${request.sentVersion ? `, sent with v${request.sentVersion}` : ''})`;
    if (want === 'pending') {
      check(!request.settled, () => `${label} settled (${String((request.error as Error | undefined)?.message ?? 'ok')}) but the model says it still waits`);
      continue;
    }
    check(request.settled, () => `${label} still waits but the model says it is ${want === 'ok' ? 'released' : `rejected with ${want}`}`);
    if (want === 'ok') {
      check(request.error === undefined, () => `${label} failed (${(request.error as Error).message}) but the model released it`);
      if (request.kind === 'fetch') check((request.value as Response).status === 200, () => `${label} answered ${(request.value as Response).status}`);
    } else if (want === 'abort') {
      check((request.error as Error | undefined)?.name === 'AbortError', () => `${label} did not end with AbortError`);
    } else {
      check(
        isAuthchartError(request.error, want),
        () => `${label} ended with ${String((request.error as Error | undefined)?.message ?? 'success')}, the model says ${want}`,
      );
    }
    const hits = world.hits.get(request.id) ?? 0;
    check(hits <= 2, () => `${label} reached the resource server ${hits} times: replayed more than once`);
  }
}

function checkMachine(world: World, step: ModelStep): void {
  const real = world.authFetch.session.actor.getSnapshot();
  const model = step.after;
  check(stateName(real) === stateName(model), () => `the real machine is in ${stateName(real)}, the model in ${stateName(model)}`);
  const pick = (c: typeof model.context) => ({
    attempt: c.attempt,
    permanentFailures: c.permanentFailures,
    queued: c.queued,
    tokenVersion: c.tokenVersion,
    refreshAtKnown: c.refreshAt !== null,
    loggedOutReason: c.loggedOutReason,
    inUse: c.inUse,
    lastError: c.lastError
      ? {
          kind: c.lastError.kind,
          code: c.lastError.code,
          reason: c.lastError.reason,
          status: c.lastError.status,
          retryAfterMs: c.lastError.retryAfterMs,
          sessionGone: c.lastError.sessionGone,
        }
      : null,
  });
  const a = JSON.stringify(pick(real.context));
  const b = JSON.stringify(pick(model.context));
  check(a === b, () => `real context ${a}\n   model context ${b}`);
  check(
    world.authFetch.getStatus().queued === model.context.queued,
    () => `the session holds ${world.authFetch.getStatus().queued} waiting requests, the model counts ${model.context.queued}`,
  );
}

function checkWorld(world: World, step: ModelStep, expected: Expected): void {
  const { server, lock } = world;
  check(lock.overlaps === 0, () => `a second refresh asked for the lock while one was in flight`);
  check(lock.acquisitions === expected.acquisitions, () => `${lock.acquisitions} refreshes started, the model started ${expected.acquisitions}`);
  const inFlight = stateName(step.after) === 'refreshing' ? 1 : 0;
  check(lock.outstanding === inFlight, () => `${lock.outstanding} refreshes in flight, the model has ${inFlight}`);
  check(server.stats.reuseDetected === 0, () => `the server saw a rotated-away refresh token presented again`);
  check(
    server.stats.refreshCalls === expected.refreshCalls,
    () => `the server saw ${server.stats.refreshCalls} refresh calls, expected ${expected.refreshCalls}`,
  );
  const presented = server.calls.filter((c) => c.grantType === 'refresh_token').map((c) => c.refreshToken);
  check(JSON.stringify(presented) === JSON.stringify(expected.presented), () => `the server received other refresh tokens than the store held at each call`);
}

/** Run `path` in `world`. Throws a {@link StepError} naming the step that diverged. */
export async function runPath(world: World, path: GeneratedPath, startArmed: readonly string[]): Promise<PathResult> {
  // The model starts after a first request used the tokens (TOKEN_USED): so does the world.
  world.send({ hold: true });
  await world.settle();
  const armedAtStart = startArmed.find((type) => type.startsWith('xstate.after.'));
  if (armedAtStart) {
    const context = world.authFetch.session.actor.getSnapshot().context;
    world.timer = { eventType: armedAtStart, armedAt: world.elapsed, delay: proactiveDelay(context.refreshAt, Date.now()) };
  }
  const expected: Expected = { refreshCalls: 0, acquisitions: 0, presented: [], outcomes: new Map() };
  const taken: string[] = [];
  for (const [index, step] of path.steps.entries()) {
    try {
      await topUpPool(world);
      for (const request of world.requests) if (!expected.outcomes.has(request)) expected.outcomes.set(request, 'pending');
      const mark = world.inspections.length;
      const subject = await execute(world, step, expected);
      if (step.startsRefresh) expected.acquisitions++;
      const real = realTaken(world, mark);
      taken.push(...real);
      check(JSON.stringify(real) === JSON.stringify(step.taken), () => `the real machine took [${real.join(', ')}], the model [${step.taken.join(', ')}]`);
      // Arm, keep or drop the timer of the state we are in now.
      const armed = step.armed.find((type) => type.startsWith('xstate.after.'));
      if (armed) {
        const context = world.authFetch.session.actor.getSnapshot().context;
        const delay = specDelay(armed, step.after.context) ?? (step.after.context.inUse ? proactiveDelay(context.refreshAt, Date.now()) : MAX_TIMER_MS);
        world.timer = { eventType: armed, armedAt: world.elapsed, delay };
      } else if (stateName(step.after) !== stateName(step.before)) {
        world.timer = null;
      }
      const remaining = world.timer ? world.timer.armedAt + world.timer.delay - world.elapsed : Infinity;
      await world.advance(Math.max(0, Math.min(STEP_MS, remaining - 1)));
      expectOutcomes(world, step, subject, expected);
      checkMachine(world, step);
      checkWorld(world, step, expected);
      checkRequests(world, expected);
    } catch (error) {
      if (error instanceof Error) error.message = `step ${index + 1} (${describeEvent(step.event)}): ${error.message}\n   path: ${path.description}`;
      throw error;
    }
  }
  // Whatever is still held or waiting settles once the session is disposed: nothing hangs.
  await world.dispose();
  const open = world.requests.filter((r) => !r.settled);
  if (open.length) fail(`${open.length} requests never settled after dispose()\n   path: ${path.description}`);
  for (const request of world.requests) {
    const hits = world.hits.get(request.id) ?? 0;
    if (hits > 2) fail(`request ${request.id} reached the resource server ${hits} times\n   path: ${path.description}`);
  }
  return { taken };
}
