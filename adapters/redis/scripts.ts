import { createHash } from 'node:crypto';
import { replyErrorPrefix, type Commander } from './client.js';

/** A Lua script, run by EVALSHA with a fallback to EVAL (after a restart Redis has forgotten it). */
export interface Script {
  source: string;
  sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Run `script` on one key (the drivers' scripts each touch one key). Replies as the client gives them. */
export async function runScript(commander: Commander, { source, sha }: Script, key: string, args: readonly (string | number)[]): Promise<unknown> {
  const rest = args.map(String);
  try {
    return await commander.send(['EVALSHA', sha, '1', key, ...rest], key);
  } catch (error) {
    if (replyErrorPrefix(error) !== 'NOSCRIPT') throw error;
    return commander.send(['EVAL', source, '1', key, ...rest], key);
  }
}

// Announcements use redis.pcall: a message that cannot be sent (SPUBLISH on a Redis older
// than 7.0) must not fail the write it announces; listeners then learn at their next refresh.

// The version that counts for compare-and-set: the stored one when the record is readable,
// 0 when there is none (or it is corrupt: corrupt data is "no tokens", as for readers).
const currentVersion = `
local function current(key)
  if redis.call('EXISTS', key) == 0 then return 0, 0 end
  if redis.call('TYPE', key)['ok'] ~= 'hash' then
    redis.call('DEL', key)
    return 0, 0
  end
  local fields = redis.call('HMGET', key, 'v', 'd')
  local v = tonumber(fields[1])
  if v == nil or v < 1 or v % 1 ~= 0 then v = 0 end
  local d = fields[2]
  if not d then return 0, v end
  local ok, record = pcall(cjson.decode, d)
  if not ok or type(record) ~= 'table' or record['format'] ~= 1 then return 0, v end
  if type(record['accessToken']) ~= 'string' or record['accessToken'] == '' then return 0, v end
  local rt = record['refreshToken']
  if rt ~= nil and type(rt) ~= 'string' then return 0, v end
  local exp = record['expiresAt']
  if exp ~= nil and type(exp) ~= 'number' then return 0, v end
  if v == 0 then return 0, 0 end
  return v, v
end
`;

/**
 * Write a record. KEYS[1] tokens hash. ARGV: data, expected version ('' = any), ttl ms
 * (0 = none), channel, hashed id, publish command (PUBLISH, or SPUBLISH to a channel in the
 * key's slot). Returns the new version, or nil when the expected version did not match.
 * Publishes "<id>:t:<version>" (never a token).
 */
export const setScript = script(`${currentVersion}
local effective, last = current(KEYS[1])
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= effective then return false end
local version = last + 1
redis.call('HSET', KEYS[1], 'v', version, 'd', ARGV[1])
local ttl = tonumber(ARGV[3])
if ttl and ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
redis.pcall(ARGV[6], ARGV[4], ARGV[5] .. ':t:' .. version)
return version
`);

/**
 * Remove the record, keep its version counter (so a version from before can never match a
 * later record). KEYS[1] tokens hash. ARGV: channel, hashed id, publish command. Publishes "<id>:c".
 */
export const clearScript = script(`${currentVersion}
local effective, last = current(KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HDEL', KEYS[1], 'd') end
redis.pcall(ARGV[3], ARGV[1], ARGV[2] .. ':c')
return last
`);

/**
 * Take the lock: `SET key owner NX PX ttl`. Taking it again with the same owner (a retry
 * whose first reply was lost) counts as taken and extends it. KEYS[1] lock. ARGV: owner,
 * ttl ms. Returns {1, ttl} when held, {0, pttl of the holder} otherwise.
 */
export const acquireScript = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(ARGV[2])}
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, tonumber(ARGV[2])} end
return {0, redis.call('PTTL', KEYS[1])}
`);

/** Extend the lock if this owner still holds it. KEYS[1] lock. ARGV: owner, ttl ms. 1 or 0. */
export const renewScript = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`);

/** Release only by the owner (compare-and-delete), and wake the waiters. KEYS[1] lock. ARGV: owner, channel, hashed id, publish command. 1 or 0. */
export const releaseScript = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.pcall(ARGV[4], ARGV[2], ARGV[3] .. ':l')
  return 1
end
return 0
`);
