import { createHash } from 'node:crypto';

/**
 * Key names of one session. The session id is hashed (SHA-256), so raw ids never appear in
 * Redis; the hash sits in a Cluster hash tag (`{…}`), so a session's keys share one slot and
 * the Lua scripts that touch them run on one node.
 */
export interface SessionKeys {
  /** The hashed session id, also used in pub/sub messages. */
  id: string;
  /** A hash: `v` (version) and `d` (the token record, JSON). */
  tokens: string;
  /** The refresh lock: `SET … NX PX`, its value a random owner id. */
  lock: string;
  /** The pub/sub channel of this prefix (one for every session; messages name the hashed id). */
  channel: string;
}

/** @default 'authchart:' */
export const defaultPrefix = 'authchart:';

export function sessionKeys(prefix: string, sessionId: string): SessionKeys {
  const id = createHash('sha256').update(sessionId, 'utf8').digest('base64url').slice(0, 32);
  return {
    id,
    tokens: `${prefix}{${id}}:tokens`,
    lock: `${prefix}{${id}}:lock`,
    channel: `${prefix}events`,
  };
}
