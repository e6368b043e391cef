import { hashedSessionId } from '../server/session-id.js';

/**
 * How changes are announced: `'global'`, one channel per prefix (`PUBLISH`/`SUBSCRIBE`, any
 * Redis; on a Cluster each message is sent to every node); `'sharded'`, one channel per
 * session in the session's own slot (`SPUBLISH`/`SSUBSCRIBE`, Redis ≥ 7.0; on a Cluster a
 * message stays on the shard that owns the session, and an instance hears only about the
 * sessions it holds).
 */
export type PubSubMode = 'global' | 'sharded';

/**
 * Key names of one session. The session id is hashed (SHA-256), so raw ids never appear in
 * Redis; the hash sits in a Cluster hash tag (`{…}`), so a session's keys (and its sharded
 * channel) share one slot and the Lua scripts that touch them run on one node.
 */
export interface SessionKeys {
  /** The hashed session id, also used in pub/sub messages. */
  id: string;
  /** A hash: `v` (version) and `d` (the token record, JSON). */
  tokens: string;
  /** The refresh lock: `SET … NX PX`, its value a random owner id. */
  lock: string;
  /**
   * The pub/sub channel: global, `<prefix>events` (one for every session; messages name
   * the hashed id); sharded, `<prefix>{<id>}:events` (this session's, in its slot).
   */
  channel: string;
}

/** @default 'authchart:' */
export const defaultPrefix = 'authchart:';

/** Refuses ids that are empty or not well-formed UTF-16 (see {@link hashedSessionId}). */
export function sessionKeys(prefix: string, sessionId: string, mode: PubSubMode = 'global', driver = 'redis'): SessionKeys {
  const id = hashedSessionId(sessionId, driver);
  return {
    id,
    tokens: `${prefix}{${id}}:tokens`,
    lock: `${prefix}{${id}}:lock`,
    channel: mode === 'sharded' ? `${prefix}{${id}}:events` : `${prefix}events`,
  };
}
