/**
 * The test model: the statechart itself, traversed by `xstate/graph`.
 *
 * Nothing here restates the machine. Event types come from the state nodes' own
 * transition maps (named events, `xstate.after.<delay>.<stateId>`, `xstate.done.actor.<id>`,
 * `xstate.error.actor.<id>`); this file only says which *variants* of each event the outside
 * world can produce (a stale or a fresh 401, a 503 or an `invalid_grant`, …). A machine
 * that gains an event this file has no variant for makes path generation throw.
 *
 * The one liberty taken: time. The session adapter provides `refreshDue` with its clock;
 * the model provides it with a flag on the event (`due`), and the world executor makes the
 * real clock agree before it fires the event.
 */
import { initialTransition, transition, type AnyStateNode } from 'xstate';
import { TestModel, type AdjacencyMap, type StatePath } from 'xstate/graph';
import {
  backoffDelay,
  type RefreshContext,
  type RefreshFailure,
  type RefreshMachine,
  type RefreshMachineInput,
  type RefreshSnapshot,
} from '../../machines/refresh.machine.js';

/** Tunables of the world the paths run in (also given to the real session). */
export const WORLD_OPTIONS = {
  /** Long enough that nothing waits into it: leaving the queue is modelled by aborts. */
  maxWaitMs: 600_000,
  refreshTimeoutMs: 5_000,
  lockTimeoutMs: 10_000,
  accessTokenTtlSeconds: 3_600,
} as const;

/** The machine input both the model and the real session start from (the defaults). */
export const MODEL_INPUT: RefreshMachineInput = {};

/** Symbolic expiry facts: the model knows *that* an expiry is known, the world knows when. */
const KNOWN_EXPIRY = { expiresAt: 2, refreshAt: 1 } as const;

/** Failures as the real refresh task reports them (checked against the real machine's `lastError`). */
export const FAILURES = {
  unavailable: { kind: 'transient', code: 'REFRESH_FAILED', reason: 'HTTP_503', status: 503 },
  rateLimited: { kind: 'transient', code: 'REFRESH_FAILED', reason: 'slow_down', status: 429, retryAfterMs: 3_000 },
  reset: { kind: 'transient', code: 'REFRESH_FAILED', reason: 'NETWORK' },
  timeout: { kind: 'transient', code: 'REFRESH_FAILED', reason: 'TIMEOUT' },
  invalidGrant: { kind: 'permanent', code: 'REFRESH_FAILED', reason: 'invalid_grant', status: 400 },
  sessionGone: { kind: 'permanent', code: 'REFRESH_FAILED', reason: 'NO_SESSION', sessionGone: true },
  /** DPoP: the token endpoint asks for a new nonce (RFC 9449 §8); nothing was consumed. */
  dpopNonce: { kind: 'transient', code: 'REFRESH_FAILED', reason: 'use_dpop_nonce', status: 400 },
} as const satisfies Record<string, RefreshFailure>;
export type FailureVariant = keyof typeof FAILURES;

/** An event of the model: a real machine event plus the name of the world action that produces it. */
export type ModelEvent = { type: string; variant: string } & Record<string, unknown>;

export interface Model {
  machine: RefreshMachine;
  /** The snapshot every path starts from: a session that has just been given tokens, and a request used them. */
  start: RefreshSnapshot;
  /** Delayed events armed on the way to `start`. */
  startArmed: string[];
  testModel: TestModel<RefreshSnapshot, ModelEvent, RefreshMachineInput>;
  /** The next snapshot and what the machine does on `event`. */
  step(snapshot: RefreshSnapshot, event: ModelEvent): ModelStep;
}

export interface ModelStep {
  before: RefreshSnapshot;
  event: ModelEvent;
  after: RefreshSnapshot;
  /** Transition definitions taken, as stable ids (see {@link transitionId}). */
  taken: string[];
  /** Events the machine emits to the adapters. */
  emitted: { type: string; [key: string]: unknown }[];
  /** Delayed events (re)armed by this step, by event type. */
  armed: string[];
  /** Whether a refresh actor is started by this step. */
  startsRefresh: boolean;
}

/** The model machine: the real one, with time given by the event (see the file comment). */
export function modelMachine(machine: RefreshMachine): RefreshMachine {
  return machine.provide({
    guards: {
      refreshDue: ({ context, event }) => context.refreshAt !== null && (event as { due?: unknown }).due === true,
    },
  }) as RefreshMachine;
}

/** `<source state id>:<event type>#<index among that state's transitions for the event>`. */
export function transitionId(t: { source: AnyStateNode; eventType: string }): string {
  const list = t.source.transitions.get(t.eventType) ?? [];
  return `${t.source.id}:${t.eventType}#${list.indexOf(t as never)}`;
}

/** Every transition the machine defines, derived from its state nodes. */
export function definedTransitions(machine: RefreshMachine): { id: string; source: string; eventType: string; guard: string | null; target: string }[] {
  const out: { id: string; source: string; eventType: string; guard: string | null; target: string }[] = [];
  const visit = (node: AnyStateNode) => {
    for (const [, list] of node.transitions) {
      for (const t of list) {
        const guard = t.guard ? (typeof t.guard === 'string' ? t.guard : ((t.guard as { type?: string }).type ?? 'inline')) : null;
        out.push({ id: transitionId(t), source: node.id, eventType: t.eventType, guard, target: t.target?.map((n) => n.id).join(',') ?? '(none)' });
      }
    }
    for (const child of Object.values(node.states)) visit(child as AnyStateNode);
  };
  visit(machine.root);
  return out;
}

/** The state node's path, e.g. `backoff`. */
export const stateName = (snapshot: RefreshSnapshot): string => String(snapshot.value);

/**
 * Node identity: state, counters (so backoff(1..3) and the permanent-failure count are
 * distinct), queue (0, 1, 2+), whether an older token version exists, whether the current one
 * is in use, and whether the last failure was a DPoP nonce request (a second one in a row is
 * not retried at once).
 */
export function serializeState(snapshot: RefreshSnapshot): string {
  const c = snapshot.context;
  const nonce = c.lastError?.reason === FAILURES.dpopNonce.reason ? 1 : 0;
  return `${stateName(snapshot)}|attempt=${c.attempt}|permanent=${c.permanentFailures}|queued=${Math.min(c.queued, 2)}|older=${c.tokenVersion > 1 ? 1 : 0}|inUse=${c.inUse ? 1 : 0}|nonce=${nonce}`;
}

export function serializeEvent(event: ModelEvent): string {
  return `${event.type}(${event.variant})`;
}

/** Short label for reports: `401 stale`, `after debounce`, `refresh error invalidGrant`. */
export function describeEvent(event: ModelEvent): string {
  if (event.type.startsWith('xstate.after.')) return `after ${event.type.split('.')[2]}${event.variant === 'elapsed' ? '' : ` (${event.variant})`}`;
  if (event.type.startsWith('xstate.done.actor.')) return `refresh done (${event.variant})`;
  if (event.type.startsWith('xstate.error.actor.')) return `refresh error (${event.variant})`;
  return `${event.type} (${event.variant})`;
}

/** A clock can only be past an expiry the session knows. */
function whenKnown(context: RefreshContext, variants: ModelEvent[]): ModelEvent[] {
  return context.refreshAt === null ? variants.filter((v) => v.variant !== 'due') : variants;
}

/** The variants of each event type that the world can produce in `snapshot`. */
function variantsOf(eventType: string, snapshot: RefreshSnapshot, refreshActorId: string): ModelEvent[] {
  const c: RefreshContext = snapshot.context;
  const state = stateName(snapshot);
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) {
    const delay = after[1];
    // Not in use, the proactive timer waits the longest delay a host timer takes: nothing fires it.
    if (delay === 'proactive')
      return c.inUse
        ? whenKnown(c, [
            { type: eventType, variant: 'due', due: true },
            { type: eventType, variant: 'notDue', due: false },
          ])
        : [];
    if (delay === 'debounce' || delay === 'backoff') return [{ type: eventType, variant: 'elapsed' }];
    throw new Error(`[model] no world action for the delay "${delay}"; add one in tests/model/model.ts`);
  }
  // Tokens from another tab reached the session while its refresh waited for the lock: the
  // refresh's double-check finds them in the store and uses them. No other outcome is real.
  const startedFrom = (snapshot.children as Record<string, { getSnapshot(): { input?: { tokenVersion?: number } } } | undefined>)[refreshActorId]?.getSnapshot()
    .input?.tokenVersion;
  const overtaken = startedFrom !== undefined && startedFrom < c.tokenVersion;
  if (eventType === `xstate.done.actor.${refreshActorId}`) {
    const output = (source: 'server' | 'store') => ({ tokenVersion: c.tokenVersion + 1, ...KNOWN_EXPIRY, source });
    return overtaken
      ? [{ type: eventType, variant: 'store', output: output('store') }]
      : [
          { type: eventType, variant: 'server', output: output('server') },
          { type: eventType, variant: 'store', output: output('store') },
        ];
  }
  if (eventType === `xstate.error.actor.${refreshActorId}`) {
    if (overtaken) return [];
    return (Object.keys(FAILURES) as FailureVariant[]).map((variant) => ({ type: eventType, variant, error: { ...FAILURES[variant] } }));
  }
  switch (eventType) {
    case 'UNAUTHORIZED': {
      // A request sent with the current token used it (TOKEN_USED): no fresh 401 before that.
      // A proactive cycle may have been started by that very first use, so the world holds one
      // request of this version for sure, not more: one fresh 401 per such cycle.
      const proactiveCycle = c.trigger === 'proactive' && state !== 'idle' && state !== 'loggedOut';
      const fresh = c.inUse && !(proactiveCycle && c.queued > 0);
      const events: ModelEvent[] = fresh ? [{ type: eventType, variant: 'fresh', tokenVersion: c.tokenVersion, requestId: 'request' }] : [];
      if (c.tokenVersion > 1 && state !== 'loggedOut')
        events.push({ type: eventType, variant: 'stale', tokenVersion: c.tokenVersion - 1, requestId: 'request' });
      if (state === 'idle' && c.inUse) events.push({ type: eventType, variant: 'noWaiter', tokenVersion: c.tokenVersion });
      return events;
    }
    case 'TOKEN_USED':
      // The session tells the machine once per token version, on the first request that uses it.
      return c.inUse
        ? []
        : whenKnown(c, [
            { type: eventType, variant: 'due', due: true },
            { type: eventType, variant: 'notDue', due: false },
          ]);
    case 'REFRESH':
      return [{ type: eventType, variant: 'waiter', requestId: 'request' }];
    case 'REQUEST_LEFT':
      return c.queued > 0 ? [{ type: eventType, variant: 'abort', requestId: 'request' }] : [];
    case 'LOGIN':
      return [{ type: eventType, variant: 'login', tokenVersion: c.tokenVersion + 1, ...KNOWN_EXPIRY }];
    case 'LOGOUT':
      return state === 'loggedOut'
        ? [{ type: eventType, variant: 'user' }]
        : [
            { type: eventType, variant: 'user' },
            { type: eventType, variant: 'remote', reason: 'remote' },
          ];
    case 'TOKENS_UPDATED':
      return [{ type: eventType, variant: 'otherTab', tokenVersion: c.tokenVersion + 1, ...KNOWN_EXPIRY }];
    case 'WAKE':
      return whenKnown(c, [
        { type: eventType, variant: 'due', due: true },
        { type: eventType, variant: 'notDue', due: false },
      ]);
    default:
      throw new Error(`[model] no world action for the event "${eventType}"; add its variants in tests/model/model.ts`);
  }
}

/** Event types handled in `snapshot` (its atomic state and ancestors), from the definition. */
function handledEventTypes(snapshot: RefreshSnapshot): string[] {
  const types = new Set<string>();
  for (const node of snapshot._nodes) for (const type of node.transitions.keys()) types.add(type);
  return [...types];
}

export function createModel(machine: RefreshMachine): Model {
  const model = modelMachine(machine);
  const refreshing = model.root.states.refreshing as AnyStateNode | undefined;
  const refreshActorId = refreshing?.invoke[0]?.id ?? 'refresh';
  const [initial] = initialTransition(model, MODEL_INPUT);
  // The session starts its actor, then hands it the tokens it was created with; a first
  // request uses them.
  const [given] = transition(model, initial, { type: 'TOKENS_UPDATED', tokenVersion: 1, ...KNOWN_EXPIRY });
  const [start, startActions] = transition(model, given, { type: 'TOKEN_USED', due: false } as never);
  const startArmed = (startActions as { type: string; params?: { delay?: unknown; event?: { type: string } } }[])
    .filter((a) => a.type === 'xstate.raise' && a.params?.delay !== undefined)
    .map((a) => a.params!.event!.type);
  const events = (snapshot: RefreshSnapshot) => handledEventTypes(snapshot).flatMap((type) => variantsOf(type, snapshot, refreshActorId));
  const testModel = new TestModel<RefreshSnapshot, ModelEvent, RefreshMachineInput>(model as never, {
    fromState: start,
    input: MODEL_INPUT,
    events,
    serializeState: (snapshot) => serializeState(snapshot),
    serializeEvent,
  });
  const step = (snapshot: RefreshSnapshot, event: ModelEvent): ModelStep => {
    const taken = model.getTransitionData(snapshot, event as never).map((t) => transitionId(t as never));
    const [after, actions] = transition(model, snapshot, event as never);
    const emitted: ModelStep['emitted'] = [];
    const armed: string[] = [];
    let startsRefresh = false;
    for (const action of actions as { type: string; params?: Record<string, unknown> }[]) {
      if (action.type === 'xstate.emit') emitted.push(action.params!.event as ModelStep['emitted'][number]);
      if (action.type === 'xstate.raise' && action.params?.delay !== undefined) armed.push((action.params.event as { type: string }).type);
      if (action.type === 'xstate.spawnChild' && (action.params as { id?: string }).id === refreshActorId) startsRefresh = true;
    }
    return { before: snapshot, event, after, taken, emitted, armed, startsRefresh };
  };
  return { machine: model, start, startArmed, testModel, step };
}

/** Delay of a timer armed in `snapshot`'s state, as the specification computes it (proactive: the world knows). */
export function specDelay(eventType: string, context: RefreshContext): number | null {
  const delay = /^xstate\.after\.([^.]+)\./.exec(eventType)?.[1];
  if (delay === 'debounce') return context.options.debounceMs;
  if (delay === 'backoff') return backoffDelay(context);
  return null;
}

/** A generated path: events from `model.start`, and why it was generated. */
export interface GeneratedPath {
  origin: 'shortest' | 'simple→loggedOut' | 'transition';
  events: ModelEvent[];
  /** The model's states along the path (resimulated, consistent in every context field). */
  steps: ModelStep[];
  description: string;
}

function resimulate(model: Model, events: ModelEvent[], expected?: RefreshSnapshot[]): ModelStep[] {
  const steps: ModelStep[] = [];
  let snapshot = model.start;
  events.forEach((event, i) => {
    const step = model.step(snapshot, event);
    const wanted = expected?.[i];
    if (wanted && serializeState(wanted) !== serializeState(step.after)) {
      throw new Error(`[model] path does not replay: step ${i} reached ${serializeState(step.after)}, the graph said ${serializeState(wanted)}`);
    }
    steps.push(step);
    snapshot = step.after;
  });
  return steps;
}

function toGenerated(model: Model, origin: GeneratedPath['origin'], path: StatePath<RefreshSnapshot, ModelEvent>): GeneratedPath {
  // xstate/graph paths open with an `xstate.init` step at the start state; each later step
  // holds the event and the state it led to.
  const moves = path.steps.filter((s) => s.event.type !== 'xstate.init');
  const events = moves.map((s) => s.event);
  const reached = moves.map((s) => s.state);
  const steps = resimulate(model, events, reached);
  return { origin, events, steps, description: describePath(events, steps) };
}

export function describePath(events: ModelEvent[], steps: ModelStep[]): string {
  const end = steps.at(-1)?.after;
  const where = end ? `${stateName(end)}(attempt ${end.context.attempt}, permanent ${end.context.permanentFailures}, queued ${end.context.queued})` : 'idle';
  return `${events.map(describeEvent).join(' → ') || '(start)'} ⇒ ${where}`;
}

/** Drop paths that are a prefix of another path (same events in order). */
function withoutPrefixes(paths: GeneratedPath[]): GeneratedPath[] {
  const keyOf = (p: GeneratedPath) => p.events.map(serializeEvent);
  const sorted = [...paths].sort((a, b) => b.events.length - a.events.length);
  const kept: { path: GeneratedPath; key: string[] }[] = [];
  for (const path of sorted) {
    const key = keyOf(path);
    if (kept.some((k) => key.every((e, i) => k.key[i] === e))) continue;
    kept.push({ path, key });
  }
  return kept.map((k) => k.path);
}

/**
 * The generated suite:
 * - shortest paths to every node of the graph;
 * - simple paths into `loggedOut`, over the failure events only (a 401, the delays, each
 *   kind of refresh outcome, logout), where node = state + counters;
 * - for every (state, backoff step, queue size, transition, event variant) not yet on a
 *   path, the shortest path to a node where it is enabled, plus that step.
 */
export function generatePaths(model: Model): { paths: GeneratedPath[]; nodes: number; edges: number } {
  const shortest = model.testModel.getShortestPaths({ allowDuplicatePaths: true }).map((p) => toGenerated(model, 'shortest', p));
  const toNode = new Map(shortest.map((p) => [serializeState(p.steps.at(-1)?.after ?? model.start), p]));

  const failureEvents = new Set(['UNAUTHORIZED(fresh)', 'LOGOUT(user)', 'LOGIN(login)', 'elapsed', 'server', 'unavailable', 'invalidGrant', 'sessionGone']);
  const simple = model.testModel
    .getSimplePaths({
      serializeState: (s) => `${stateName(s)}|${s.context.attempt}|${s.context.permanentFailures}`,
      filterEvents: (s, e) => {
        const key = failureEvents.has(serializeEvent(e)) || failureEvents.has(e.variant);
        // A path into loggedOut does not leave it again, and starts 401s only from idle.
        if (stateName(s) === 'loggedOut') return false;
        if (e.type === 'UNAUTHORIZED') return key && stateName(s) === 'idle';
        if (e.type === 'LOGIN') return false;
        return key;
      },
      toState: (s) => stateName(s) === 'loggedOut',
    })
    .map((p) => toGenerated(model, 'simple→loggedOut', p));

  const classOf = (step: ModelStep) =>
    `${stateName(step.before)}|attempt=${step.before.context.attempt}|queued=${Math.min(step.before.context.queued, 2)}|${step.taken.join('+') || 'none'}|${step.event.variant}`;
  const covered = new Set<string>();
  for (const path of [...shortest, ...simple]) for (const step of path.steps) covered.add(classOf(step));

  const adjacency: AdjacencyMap<RefreshSnapshot, ModelEvent> = model.testModel.getAdjacencyMap();
  const extra: GeneratedPath[] = [];
  let edges = 0;
  for (const [node, { state, transitions }] of Object.entries(adjacency)) {
    const head = toNode.get(node);
    if (!head) throw new Error(`[model] no shortest path to ${node}`);
    for (const { event } of Object.values(transitions) as { event: ModelEvent }[]) {
      edges++;
      const step = model.step(state, event);
      const key = classOf(step);
      if (covered.has(key) || step.taken.length === 0) continue;
      covered.add(key);
      const events = [...head.events, event];
      const steps = resimulate(model, events);
      extra.push({ origin: 'transition', events, steps, description: describePath(events, steps) });
    }
  }
  const paths = withoutPrefixes([...shortest, ...simple, ...extra]);
  return { paths, nodes: Object.keys(adjacency).length, edges };
}
