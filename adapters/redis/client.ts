/**
 * The tiny part of a Redis client authchart uses, and the two wrappers that give it from
 * node-redis (`redis` v4-v6) and ioredis. authchart never creates a connection: the user
 * passes the clients they already have.
 */
import { InvalidOptionsError } from '../core/errors.js';
import { RedisUnavailableError } from './errors.js';

/**
 * A node-redis client (`createClient()` or `createCluster()` from `redis` v4/v5), connected.
 * Only `sendCommand` is used.
 */
export interface NodeRedisClientLike {
  // Method syntax on purpose: node-redis' client and cluster signatures differ and both fit.
  sendCommand(...args: unknown[]): Promise<unknown>;
}

/** An ioredis client (`new Redis()` or `new Redis.Cluster()`). Only `call` is used. */
export interface IoRedisClientLike {
  call(command: string, ...args: unknown[]): Promise<unknown>;
}

/** A node-redis or ioredis client. */
export type RedisClientLike = NodeRedisClientLike | IoRedisClientLike;

/**
 * A separate connection in subscriber mode, for pub/sub: node-redis `client.duplicate()`
 * (connected) or ioredis `client.duplicate()`; on a Cluster, `cluster.duplicate()` of either
 * (an ioredis Cluster created with `shardedSubscribers: true` for sharded pub/sub). A
 * connection that subscribes can run no other command, which is why it is its own option.
 */
export type RedisSubscriberLike =
  | { subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>; unsubscribe(...args: unknown[]): Promise<unknown> }
  | {
      subscribe(...channels: unknown[]): Promise<unknown>;
      on(event: 'message', listener: (channel: string, message: string) => void): unknown;
      call(command: string, ...args: unknown[]): Promise<unknown>;
    };

/** What authchart's Redis drivers need: one raw command, routed by its first key. */
export interface Commander {
  send(args: readonly string[], key: string): Promise<unknown>;
  /**
   * Whether the connection is up now, when the client says. Commands are not sent while it
   * is down: clients queue them until they reconnect, and a command that runs after its
   * caller was told it failed (a lock nobody releases, an old write over a newer one) is
   * worse than a clear failure.
   */
  ready?: () => boolean;
  /**
   * Called when a command for `key` failed without a reply from Redis or went unanswered:
   * a chance for the client to learn the Cluster's new layout (a primary died and a replica
   * took its slots). Given, each attempt is also bounded on its own, so a command queued
   * for a dead node is not waited for until the whole bound is spent.
   */
  stalled?: (key: string) => void;
}

/** What authchart needs of a subscriber connection. */
export interface SubscriberPort {
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
}

const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function';

/** True for node-redis' cluster client, whose `sendCommand` takes the routing key first. */
function isNodeRedisCluster(client: object): boolean {
  return 'masters' in client && 'slots' in client;
}

/** True for a Redis Cluster client: node-redis `createCluster()` or ioredis `Redis.Cluster`. */
export function isClusterClient(client: object): boolean {
  return isNodeRedisCluster(client) || (client as { isCluster?: unknown }).isCluster === true;
}

/** Wrap a user's client. ioredis is recognised by `call`, node-redis by `sendCommand`. */
export function toCommander(client: RedisClientLike): Commander {
  const anyClient = client as unknown as Record<string, unknown>;
  if (isFunction(anyClient.call)) {
    const io = client as IoRedisClientLike;
    const commander: Commander = { send: ([command, ...args]) => io.call(command!, ...args) };
    // 'wait': created with lazyConnect and not connected yet; its first command connects it.
    if (typeof anyClient.status === 'string') commander.ready = () => anyClient.status === 'ready' || anyClient.status === 'wait';
    return commander;
  }
  if (isFunction(anyClient.sendCommand)) {
    const node = client as NodeRedisClientLike;
    if (isNodeRedisCluster(client)) {
      // node-redis (5.x) learns a new Cluster layout only from a MOVED or ASK reply: commands
      // for a primary that died wait for it to come back, however long, even after its
      // replica took over. A read of the key sent to a random node (no routing key) gets
      // MOVED from a node that does not own it, and node-redis then reloads the layout.
      // The random node may be the dead one (its probe then waits too): probes are not
      // awaited, at most one per 100 ms.
      let lastProbe = 0;
      return {
        send: (args, key) => node.sendCommand(key, false, args),
        stalled: (key) => {
          if (Date.now() - lastProbe < 100) return;
          lastProbe = Date.now();
          node.sendCommand(undefined, true, ['EXISTS', key]).catch(() => undefined);
        },
      };
    }
    const commander: Commander = { send: (args) => node.sendCommand(args) };
    if (typeof anyClient.isReady === 'boolean') commander.ready = () => anyClient.isReady === true;
    return commander;
  }
  throw new TypeError('[authchart] The Redis client must be a node-redis client (sendCommand) or an ioredis client (call).');
}

/** Wrap a user's subscriber connection. */
export function toSubscriberPort(subscriber: RedisSubscriberLike): SubscriberPort {
  const anySub = subscriber as unknown as Record<string, unknown>;
  if (isFunction(anySub.call) && isFunction(anySub.on)) {
    // ioredis: one 'message' event for every channel.
    const io = subscriber as {
      subscribe(channel: string): Promise<unknown>;
      on(event: 'message', listener: (channel: string, message: string) => void): unknown;
    };
    const handlers = new Map<string, (message: string) => void>();
    let listening = false;
    return {
      async subscribe(channel, onMessage) {
        handlers.set(channel, onMessage);
        if (!listening) {
          listening = true;
          io.on('message', (from, message) => handlers.get(from)?.(message));
        }
        await io.subscribe(channel);
      },
    };
  }
  if (isFunction(anySub.subscribe)) {
    const node = subscriber as { subscribe(channel: string, listener: (message: string) => void): Promise<unknown> };
    return {
      async subscribe(channel, onMessage) {
        await node.subscribe(channel, (message) => onMessage(String(message)));
      },
    };
  }
  throw new TypeError('[authchart] The subscriber must be a node-redis or ioredis connection (client.duplicate()).');
}

/** What authchart needs of a subscriber connection for sharded pub/sub: one channel per session. */
export interface ShardedSubscriberPort {
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
}

/**
 * Wrap a user's subscriber connection for `SSUBSCRIBE`. Refuses, with the fix in the
 * message, a connection that cannot route sharded subscriptions (an ioredis Cluster made
 * without `shardedSubscribers: true` would subscribe on a random node and hear nothing).
 */
export function toShardedSubscriberPort(subscriber: RedisSubscriberLike): ShardedSubscriberPort {
  const anySub = subscriber as unknown as Record<string, unknown>;
  if (isFunction(anySub.call) && isFunction(anySub.on)) {
    if (anySub.isCluster === true && (anySub.options as { shardedSubscribers?: unknown } | undefined)?.shardedSubscribers !== true) {
      throw new InvalidOptionsError(
        "Sharded pub/sub on an ioredis Cluster needs a subscriber created with `shardedSubscribers: true` (new Redis.Cluster(nodes, { shardedSubscribers: true })), or pubsub: 'global'.",
      );
    }
    const io = subscriber as unknown as {
      ssubscribe(channel: string): Promise<unknown>;
      sunsubscribe(channel: string): Promise<unknown>;
      on(event: 'smessage', listener: (channel: string, message: string) => void): unknown;
    };
    const handlers = new Map<string, (message: string) => void>();
    let listening = false;
    return {
      async subscribe(channel, onMessage) {
        handlers.set(channel, onMessage);
        if (!listening) {
          listening = true;
          io.on('smessage', (from, message) => handlers.get(from)?.(message));
        }
        await io.ssubscribe(channel);
      },
      async unsubscribe(channel) {
        handlers.delete(channel);
        await io.sunsubscribe(channel);
      },
    };
  }
  if (isFunction(anySub.sSubscribe) && isFunction(anySub.sUnsubscribe)) {
    const node = subscriber as unknown as {
      sSubscribe(channel: string, listener: (message: unknown) => void): Promise<unknown>;
      sUnsubscribe(channel: string, listener?: (message: unknown) => void): Promise<unknown>;
    };
    const listeners = new Map<string, (message: unknown) => void>();
    return {
      async subscribe(channel, onMessage) {
        const listener = (message: unknown) => onMessage(String(message));
        listeners.set(channel, listener);
        await node.sSubscribe(channel, listener);
      },
      async unsubscribe(channel) {
        const listener = listeners.get(channel);
        listeners.delete(channel);
        await node.sUnsubscribe(channel, listener);
      },
    };
  }
  throw new InvalidOptionsError("The subscriber cannot do sharded pub/sub (SSUBSCRIBE): pass a node-redis (v4.6+) or ioredis connection, or pubsub: 'global'.");
}

/** Copy only what identifies a client error: its arguments (tokens) must not travel in a cause. */
function sanitize(error: unknown): Error {
  const source = error as { name?: unknown; message?: unknown; code?: unknown } | null;
  const copy = new Error(typeof source?.message === 'string' ? source.message : String(error));
  copy.name = typeof source?.name === 'string' ? source.name : 'Error';
  if (typeof source?.code === 'string') (copy as Error & { code?: string }).code = source.code;
  return copy;
}

/** An error Redis itself answered with (as opposed to a connection that failed). */
export function replyErrorPrefix(error: unknown): string | null {
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') return null;
  const match = /^(NOSCRIPT|WRONGTYPE|BUSY|LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|MOVED|ASK|ERR)\b/.exec(message);
  return match ? match[1]! : null;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Run one idempotent operation within `timeoutMs`: not sent while the connection is down
 * (see {@link Commander.ready}), retried after a quick failure, awaited while it hangs. Past
 * the bound: {@link RedisUnavailableError}. Errors Redis answered with (other than the
 * retryable LOADING/BUSY/TRYAGAIN/…DOWN/MOVED/ASK) are thrown at once, wrapped the same way.
 *
 * With a client that reports stalls ({@link Commander.stalled}), an attempt unanswered after
 * a quarter of the bound is not given up: the next one is sent alongside it, and whichever
 * answers first wins. A slow node is still heard; a dead one no longer holds the caller.
 */
export async function bounded<T>(commander: Commander, operation: string, timeoutMs: number, run: () => Promise<T>, key?: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const stalled = key !== undefined && commander.stalled ? () => commander.stalled!(key) : null;
  const attemptMs = stalled ? Math.max(250, timeoutMs / 4) : Infinity;
  let lastError: unknown;
  const unavailable = () => new RedisUnavailableError(operation, { cause: lastError === undefined ? undefined : sanitize(lastError) });
  type Outcome = { ok: true; value: T; attempt: Promise<Outcome> } | { ok: false; error: unknown; attempt: Promise<Outcome> };
  // Attempts sent and not answered yet (more than one only after a stall).
  const running = new Set<Promise<Outcome>>();
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw unavailable();
    if (commander.ready && !commander.ready()) {
      lastError = new Error('The Redis connection is down (the client is reconnecting).');
      await sleep(Math.min(25, remaining));
      continue;
    }
    const attempt: Promise<Outcome> = run().then(
      (value) => ({ ok: true, value, attempt }),
      (error: unknown) => ({ ok: false, error, attempt }),
    );
    running.add(attempt);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.min(remaining, attemptMs));
    });
    const outcome = await Promise.race([...running, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      if (Date.now() >= deadline || !stalled) throw unavailable();
      lastError = new Error('A Redis command went unanswered.');
      stalled();
      continue;
    }
    running.delete(outcome.attempt);
    if (outcome.ok) return outcome.value;
    const { error } = outcome;
    const reply = replyErrorPrefix(error);
    if (reply !== null && !RETRYABLE_REPLIES.has(reply)) throw new RedisUnavailableError(operation, { cause: sanitize(error) });
    if (reply === null) stalled?.();
    lastError = error;
    await sleep(Math.min(50, Math.max(0, deadline - Date.now())));
  }
}

// MOVED and ASK reach us only when the client gave up following redirections (a Cluster
// whose layout is changing): the command did not run; try again within the bound.
const RETRYABLE_REPLIES = new Set(['LOADING', 'BUSY', 'TRYAGAIN', 'MASTERDOWN', 'CLUSTERDOWN', 'MOVED', 'ASK']);
