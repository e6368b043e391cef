import { toSubscriberPort, type RedisSubscriberLike } from './client.js';

/** A message about one session: new tokens (`t`, with their version), cleared (`c`), lock released (`l`). */
export type SessionMessage = { kind: 't'; version: number } | { kind: 'c' } | { kind: 'l' };

export function parseMessage(message: string): { id: string; event: SessionMessage } | null {
  const [id, kind, version] = message.split(':');
  if (!id) return null;
  if (kind === 't' && version !== undefined && /^\d+$/.test(version)) return { id, event: { kind: 't', version: Number(version) } };
  if (kind === 'c' || kind === 'l') return { id, event: { kind } };
  return null;
}

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
