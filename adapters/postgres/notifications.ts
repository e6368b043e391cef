import { parseMessage, type SessionMessage } from '../server/session-message.js';
import type { PgListenClientLike, PgPoolLike, PgResult } from './client.js';

/** What a listener hears: a message about its session, or `resync` after the LISTEN connection came back (messages may have been missed). */
export type NotificationEvent = SessionMessage | { kind: 'resync' };

/**
 * One LISTEN connection per pool (or client factory) and channel, shared by every store and
 * lock of the process; messages are dispatched by hashed session id. It is opened when the
 * first listener comes and given back when the last one leaves, so a pool can end. When the
 * connection breaks it is opened again (with a growing pause), and every listener is told to
 * re-read, since notifications sent meanwhile are lost.
 */
export class NotificationHub {
  private readonly listeners = new Map<string, Set<(event: NotificationEvent) => void>>();
  private client: PgListenClientLike | null = null;
  private connecting: Promise<boolean> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private everConnected = false;
  /** The last statement sent on the LISTEN connection by {@link query}, settled or not. */
  private statements: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly open: () => Promise<PgListenClientLike>,
    private readonly channel: string,
  ) {}

  /** Start listening (once). Resolves to whether LISTEN is active. */
  ready(): Promise<boolean> {
    if (this.client) return Promise.resolve(true);
    if (this.listenerCount === 0) return Promise.resolve(false);
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  listen(id: string, listener: (event: NotificationEvent) => void): () => void {
    let set = this.listeners.get(id);
    if (!set) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(listener);
    void this.ready();
    return () => {
      const current = this.listeners.get(id);
      if (!current?.delete(listener)) return;
      if (current.size === 0) this.listeners.delete(id);
      if (this.listeners.size === 0) this.close();
    };
  }

  /** Listeners registered now (tests check that evicted sessions leave none behind). */
  get size(): number {
    let count = 0;
    for (const set of this.listeners.values()) count += set.size;
    return count;
  }

  /** Whether a LISTEN connection is held now. */
  get connected(): boolean {
    return this.client !== null;
  }

  /**
   * Run a short statement on the LISTEN connection, or return null when there is none now.
   * Lock renewals go this way: a connection of their own, so a pool saturated by a herd of
   * refreshes does not hold them in its queue until the lease has run out.
   */
  query(text: string, values: unknown[]): Promise<PgResult> | null {
    const client = this.client;
    if (!client) return null;
    // One statement at a time: a pg client given a second query while one runs queues it
    // itself, which pg deprecates (it goes in pg 9). Many sessions renew their leases at once.
    const run = this.statements.then(() => client.query(text, values) as Promise<PgResult>);
    this.statements = run.catch(() => undefined);
    return run;
  }

  private get listenerCount(): number {
    return this.listeners.size;
  }

  private async connect(): Promise<boolean> {
    let client: PgListenClientLike | null = null;
    try {
      client = await this.open();
      const mine = client;
      const broken = (error?: Error) => this.broken(mine, error);
      mine.on('notification', (message) => {
        if (message.channel === this.channel && typeof message.payload === 'string') this.dispatch(message.payload);
      });
      mine.on('error', broken);
      mine.on('end', () => broken());
      await mine.query(`LISTEN "${this.channel}"`);
      if (this.listenerCount === 0) {
        // Everyone left while we were connecting.
        this.giveBack(mine);
        return false;
      }
      this.client = mine;
      this.failures = 0;
      if (this.everConnected) this.broadcast({ kind: 'resync' });
      this.everConnected = true;
      return true;
    } catch (error) {
      if (client) this.giveBack(client, error as Error);
      this.scheduleRetry();
      return false;
    }
  }

  private broken(client: PgListenClientLike, error?: Error): void {
    if (this.client !== client) return;
    this.client = null;
    this.giveBack(client, error ?? new Error('LISTEN connection ended'));
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.listenerCount === 0) return;
    this.failures++;
    const delay = Math.min(2000, 100 * 2 ** Math.min(this.failures - 1, 5));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.ready();
    }, delay);
    (this.retryTimer as { unref?: () => void }).unref?.();
  }

  private close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    this.everConnected = false;
    if (client) this.giveBack(client);
  }

  /** Return a pool client (destroyed: a LISTENing connection must not serve others) or close our own. */
  private giveBack(client: PgListenClientLike, error?: Error): void {
    client.removeAllListeners?.('notification');
    // An 'error' after we let go must not crash the process.
    client.on('error', () => undefined);
    if (client.release) client.release(error ?? true);
    else void client.end?.().catch(() => undefined);
  }

  private broadcast(event: NotificationEvent): void {
    for (const set of [...this.listeners.values()]) for (const listener of [...set]) call(listener, event);
  }

  private dispatch(payload: string): void {
    const parsed = parseMessage(payload);
    if (!parsed) return;
    const set = this.listeners.get(parsed.id);
    if (!set) return;
    for (const listener of [...set]) call(listener, parsed.event);
  }
}

function call(listener: (event: NotificationEvent) => void, event: NotificationEvent): void {
  try {
    listener(event);
  } catch {
    // A listener's failure is its own; the others still hear the message.
  }
}

const hubs = new WeakMap<object, Map<string, NotificationHub>>();

/** The hub of this pool (or client factory) and channel. */
export function notificationHubFor(pool: PgPoolLike, listen: true | (() => Promise<PgListenClientLike>), channel: string): NotificationHub {
  const owner: object = listen === true ? pool : listen;
  let byChannel = hubs.get(owner);
  if (!byChannel) {
    byChannel = new Map();
    hubs.set(owner, byChannel);
  }
  let hub = byChannel.get(channel);
  if (!hub) {
    hub = new NotificationHub(listen === true ? () => pool.connect() : listen, channel);
    byChannel.set(channel, hub);
  }
  return hub;
}
