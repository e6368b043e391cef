import type { StoredTokens, TokenSet, TokenStore } from '../core/ports.js';
import { positiveOption } from '../core/options.js';
import { InvalidOptionsError } from '../core/errors.js';
import { pickTokens, RECORD_FORMAT, validateRecord } from '../core/record.js';
import { bounded, isClusterClient, replyErrorPrefix, toCommander, type Commander, type RedisClientLike, type RedisSubscriberLike } from './client.js';
import { defaultPrefix, sessionKeys, type PubSubMode, type SessionKeys } from './keys.js';
import { sessionEvents, type SessionEvents } from './pubsub.js';
import { ownWrites } from '../server/own-writes.js';
import { clearScript, runScript, setScript } from './scripts.js';

/** Options shared by the Redis store, lock and session manager. */
export interface RedisConnectionOptions {
  /**
   * Your connected client: node-redis (`createClient()`, `createCluster()`, v4-v6) or ioredis
   * (`new Redis()`, `new Redis.Cluster()`). authchart never opens a connection itself.
   * @example
   * const client = await createClient({ url: process.env.REDIS_URL }).on('error', console.error).connect()
   */
  client: RedisClientLike;
  /**
   * A second connection for pub/sub (`client.duplicate()`, connected): other instances learn
   * of new tokens at once, and lock waiters wake when the lock is released. Without it, lock
   * waiters poll (`pollIntervalMs`) and other instances adopt new tokens at their next
   * refresh (after taking the lock they re-read the store), so there is still one token call
   * per expiry.
   * @default undefined (polling)
   * @example
   * const subscriber = await client.duplicate().connect()
   */
  subscriber?: RedisSubscriberLike;
  /**
   * Prefix of every key and of the pub/sub channel (`<prefix>events`).
   * @default 'authchart:'
   */
  prefix?: string;
  /**
   * Bound of one Redis operation (retries included while the connection is down). Past it
   * the call fails with `REDIS_UNAVAILABLE`. On a Cluster, keep it above the time a failover
   * takes (about `cluster-node-timeout` plus a second or two), so a write that meets one
   * waits for the new primary instead of failing.
   * @default 2000
   */
  operationTimeoutMs?: number;
  /**
   * How changes are announced to other instances (writes, clears, lock releases):
   * - `'global'`: one channel, `<prefix>events` (`PUBLISH`), on any Redis. On a Cluster every
   *   message is forwarded to every node.
   * - `'sharded'`: one channel per session, `<prefix>{<hashed id>}:events`, in the session's
   *   slot (`SPUBLISH`/`SSUBSCRIBE`, Redis 7.0 or later): on a Cluster a message stays on the
   *   shard that owns the session, and an instance subscribes only to the sessions it holds.
   *   An ioredis Cluster subscriber needs `shardedSubscribers: true`.
   *
   * Every instance sharing a `prefix` must use the same mode.
   * @default 'sharded' with a Cluster client, 'global' otherwise
   * @example
   * redisSessionManager({ client: cluster, subscriber: cluster.duplicate(), pubsub: 'sharded', refresh })
   */
  pubsub?: PubSubMode;
}

/** What the Redis store and lock of one session share: the wrapped client, key names, announcements. */
export interface SessionConnection {
  commander: Commander;
  keys: SessionKeys;
  /** `PUBLISH` or `SPUBLISH`, as the scripts call it. */
  publish: 'PUBLISH' | 'SPUBLISH';
  /** Messages of this session, with a subscriber. */
  events: SessionEvents | null;
}

/** Check the connection options and derive what the store and lock of a session use. */
export function sessionConnection(options: RedisConnectionOptions & { sessionId: string }, driver: string): SessionConnection {
  const keysFor = (mode: PubSubMode) => sessionKeys(options.prefix ?? defaultPrefix, options.sessionId, mode, driver);
  // The id is checked before the client, so a bad id is named as such.
  keysFor('global');
  const commander = toCommander(options.client);
  const mode = options.pubsub ?? (isClusterClient(options.client) ? 'sharded' : 'global');
  if (mode !== 'global' && mode !== 'sharded') throw new InvalidOptionsError(`${driver}: pubsub must be 'global' or 'sharded'.`);
  const keys = keysFor(mode);
  return {
    commander,
    keys,
    publish: mode === 'sharded' ? 'SPUBLISH' : 'PUBLISH',
    events: options.subscriber ? sessionEvents(options.subscriber, mode, keys) : null,
  };
}

/**
 * Options of {@link redisStore}.
 * @example
 * redisStore({ client, subscriber, sessionId, prefix: 'myapp:auth:', ttlMs: 14 * 24 * 3600_000 })
 */
export interface RedisStoreOptions extends RedisConnectionOptions {
  /** The session the record belongs to (hashed into the key name; never stored in clear). */
  sessionId: string;
  /**
   * How long the record lives after each write: the refresh token's lifetime, so abandoned
   * sessions leave Redis on their own. A number, or a function of the tokens written
   * (return `null` or `0` for no expiry).
   * @default 2592000000 (30 days)
   * @example
   * ttlMs: (tokens) => (tokens.refreshToken ? 14 * 24 * 3600_000 : Math.max(1, (tokens.expiresAt ?? Date.now()) - Date.now()))
   */
  ttlMs?: number | ((tokens: TokenSet) => number | null);
}

/** @default 30 days */
export const defaultRecordTtlMs = 30 * 24 * 60 * 60 * 1000;

/** Parse the stored fields; anything unexpected is "no tokens". The version lives in its own field. */
export function parseStored(version: unknown, data: unknown): StoredTokens | null {
  if (typeof data !== 'string' || (typeof version !== 'string' && typeof version !== 'number')) return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null ? validateRecord({ ...value, version: Number(version) }) : null;
}

/**
 * The token store of one session in Redis: one hash per session (`v` version, `d` record),
 * written by a Lua compare-and-set on the version, with a TTL renewed on every write.
 * What is stored is validated on every read: corrupt data is "no tokens", never a crash.
 * With a `subscriber`, `subscribe` hears writes made by other instances (the message names
 * the hashed session id and the new version, never a token).
 *
 * Every call is bounded by `operationTimeoutMs` and fails with `REDIS_UNAVAILABLE` past it.
 * @example
 * import { createClient } from 'redis'
 * import { redisStore, redisLock } from 'authchart/redis'
 * const client = await createClient().connect()
 * const subscriber = await client.duplicate().connect()
 * const session = createSession({
 *   refresh,
 *   store: redisStore({ client, subscriber, sessionId }),
 *   lock: redisLock({ client, subscriber, sessionId }),
 * })
 */
export function redisStore(options: RedisStoreOptions): TokenStore {
  const { commander, keys, publish, events } = sessionConnection(options, 'redisStore');
  const timeoutMs = positiveOption('operationTimeoutMs', options.operationTimeoutMs, 2000, 'number of milliseconds');
  const ttlOption = options.ttlMs ?? defaultRecordTtlMs;
  const ttlOf = (tokens: TokenSet): number => {
    const ttl = typeof ttlOption === 'function' ? ttlOption(tokens) : ttlOption;
    return ttl && ttl > 0 && Number.isFinite(ttl) ? Math.ceil(ttl) : 0;
  };
  // Its own writes, echoed back by pub/sub, need not wake its listeners. (Reset when the
  // record is gone: after a TTL expiry the counter starts again at 1.)
  const own = ownWrites();
  const seen = (record: StoredTokens | null) => {
    if (record) own.saw(record.version);
    else own.reset();
    return record;
  };

  const store: TokenStore = {
    async get() {
      const fields = await bounded(
        commander,
        'read tokens',
        timeoutMs,
        () =>
          commander.send(['HMGET', keys.tokens, 'v', 'd'], keys.tokens).catch((error: unknown) => {
            // Another type under our key is corrupt data, not an outage.
            if (replyErrorPrefix(error) === 'WRONGTYPE') return null;
            throw error;
          }),
        keys.tokens,
      );
      if (!Array.isArray(fields)) return null;
      return seen(parseStored(fields[0], fields[1]));
    },
    async set(tokens, setOptions) {
      const record = pickTokens(tokens);
      if (typeof record.accessToken !== 'string' || record.accessToken === '') throw new InvalidOptionsError('A token set needs an access token.');
      // The version is kept in its own field, set by the script.
      const data = JSON.stringify({ format: RECORD_FORMAT, ...record });
      const expected = setOptions?.expectedVersion;
      const version = await own.track(
        bounded(
          commander,
          'write tokens',
          timeoutMs,
          () =>
            runScript(commander, setScript, keys.tokens, [data, expected === undefined ? '' : String(expected), ttlOf(record), keys.channel, keys.id, publish]),
          keys.tokens,
        ),
      );
      if (version === null || version === undefined) return null;
      const written: StoredTokens = { ...record, version: Number(version) };
      own.saw(written.version);
      return written;
    },
    async clear() {
      await bounded(commander, 'clear tokens', timeoutMs, () => runScript(commander, clearScript, keys.tokens, [keys.channel, keys.id, publish]), keys.tokens);
    },
  };
  if (events) {
    store.subscribe = (listener) =>
      events.listen((event) => {
        if (event.kind === 'l') return;
        if (event.kind === 't') return own.unlessOwn(event.version, listener);
        own.reset();
        listener();
      });
  }
  return store;
}
