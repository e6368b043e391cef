import { toShardedSubscriberPort, toSubscriberPort, type RedisSubscriberLike, type ShardedSubscriberPort } from './client.js';
import type { PubSubMode, SessionKeys } from './keys.js';
import { parseMessage, type SessionMessage } from '../server/session-message.js';

export type { SessionMessage };

/**
 * One subscription per channel and subscriber connection, shared by every store and lock
 * of the process; messages are dispatched by hashed session id. So the number of Redis
 * subscriptions does not grow with the number of sessions.
 */
export class PubSubHub {
  private readonly listeners = new Map<string, Set<(event: SessionMessage) => void>>();
  private subscribed: Promise<boolean> | null = null;

  constructor(
    private readonly subscriber: RedisSubscriberLike,
    private readonly channel: string,
  ) {}

  /** Start the subscription (once; again after a failure). Resolves to whether it is active. */
  ready(): Promise<boolean> {
    if (!this.subscribed) {
      this.subscribed = toSubscriberPort(this.subscriber)
        .subscribe(this.channel, (message) => this.dispatch(message))
        .then(
          () => true,
          () => {
            this.subscribed = null;
            return false;
          },
        );
    }
    return this.subscribed;
  }

  listen(id: string, listener: (event: SessionMessage) => void): () => void {
    void this.ready();
    let set = this.listeners.get(id);
    if (!set) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(id);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(id);
    };
  }

  /** Listeners registered now (tests check that evicted sessions leave none behind). */
  get size(): number {
    let count = 0;
    for (const set of this.listeners.values()) count += set.size;
    return count;
  }

  private dispatch(message: string): void {
    const parsed = parseMessage(message);
    if (!parsed) return;
    const set = this.listeners.get(parsed.id);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(parsed.event);
      } catch {
        // A listener's failure is its own; the others still hear the message.
      }
    }
  }
}

const hubs = new WeakMap<object, Map<string, PubSubHub>>();

/** The hub of this subscriber connection and channel. */
export function hubFor(subscriber: RedisSubscriberLike, channel: string): PubSubHub {
  let byChannel = hubs.get(subscriber);
  if (!byChannel) {
    byChannel = new Map();
    hubs.set(subscriber, byChannel);
  }
  let hub = byChannel.get(channel);
  if (!hub) {
    hub = new PubSubHub(subscriber, channel);
    byChannel.set(channel, hub);
  }
  return hub;
}

/**
 * Sharded pub/sub: one `SSUBSCRIBE` per session that has listeners in this process, dropped
 * (`SUNSUBSCRIBE`) when its last listener leaves. Subscribe and unsubscribe of one channel
 * run in order, so a session that comes back right after it left stays subscribed.
 */
export class ShardedHub {
  private readonly channels = new Map<string, { id: string; listeners: Set<(event: SessionMessage) => void>; active: Promise<boolean> }>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly port: ShardedSubscriberPort;

  constructor(subscriber: RedisSubscriberLike) {
    this.port = toShardedSubscriberPort(subscriber);
  }

  /** Run `step` after every earlier step on `channel`. */
  private inOrder<T>(channel: string, step: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(channel) ?? Promise.resolve()).then(step, step);
    const settled = run.catch(() => undefined);
    this.queues.set(channel, settled);
    void settled.then(() => {
      if (this.queues.get(channel) === settled) this.queues.delete(channel);
    });
    return run;
  }

  private subscribe(channel: string): Promise<boolean> {
    return this.inOrder(channel, () => this.port.subscribe(channel, (message) => this.dispatch(channel, message))).then(
      () => true,
      () => false,
    );
  }

  /** Whether the channel's subscription is active; a failed one is tried again. */
  ready(channel: string): Promise<boolean> {
    const entry = this.channels.get(channel);
    if (!entry) return Promise.resolve(false);
    return entry.active.then((ok) => {
      if (ok || this.channels.get(channel) !== entry) return ok;
      entry.active = this.subscribe(channel);
      return entry.active;
    });
  }

  listen(id: string, channel: string, listener: (event: SessionMessage) => void): () => void {
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { id, listeners: new Set(), active: this.subscribe(channel) };
      this.channels.set(channel, entry);
    }
    entry.listeners.add(listener);
    const mine = entry;
    return () => {
      if (!mine.listeners.delete(listener) || mine.listeners.size > 0) return;
      if (this.channels.get(channel) === mine) this.channels.delete(channel);
      void this.inOrder(channel, () => this.port.unsubscribe(channel)).catch(() => undefined);
    };
  }

  /** Listeners registered now (tests check that evicted sessions leave none behind). */
  get size(): number {
    let count = 0;
    for (const entry of this.channels.values()) count += entry.listeners.size;
    return count;
  }

  /** Channels subscribed now. */
  get channelCount(): number {
    return this.channels.size;
  }

  private dispatch(channel: string, message: string): void {
    const entry = this.channels.get(channel);
    const parsed = parseMessage(message);
    if (!entry || !parsed || parsed.id !== entry.id) return;
    for (const listener of [...entry.listeners]) {
      try {
        listener(parsed.event);
      } catch {
        // A listener's failure is its own; the others still hear the message.
      }
    }
  }
}

const shardedHubs = new WeakMap<object, ShardedHub>();

/** The sharded hub of this subscriber connection. */
export function shardedHubFor(subscriber: RedisSubscriberLike): ShardedHub {
  let hub = shardedHubs.get(subscriber);
  if (!hub) {
    hub = new ShardedHub(subscriber);
    shardedHubs.set(subscriber, hub);
  }
  return hub;
}

/** The messages of one session, whichever the mode: what the store and the lock listen to. */
export interface SessionEvents {
  listen(listener: (event: SessionMessage) => void): () => void;
  /** Resolves once messages can be heard (false when the subscription failed). */
  ready(): Promise<boolean>;
}

export function sessionEvents(subscriber: RedisSubscriberLike, mode: PubSubMode, keys: SessionKeys): SessionEvents {
  if (mode === 'sharded') {
    const hub = shardedHubFor(subscriber);
    return { listen: (listener) => hub.listen(keys.id, keys.channel, listener), ready: () => hub.ready(keys.channel) };
  }
  const hub = hubFor(subscriber, keys.channel);
  return { listen: (listener) => hub.listen(keys.id, listener), ready: () => hub.ready() };
}
