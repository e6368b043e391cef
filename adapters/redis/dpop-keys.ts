/**
 * A session's DPoP key pair in Redis, beside its tokens, for every server instance that may
 * refresh the session (a DPoP-bound refresh token works only with the key it is bound to).
 *
 * Unlike a browser, where IndexedDB keeps a non-extractable key, a server has to store the
 * private key's material so that another instance can sign with it. It is stored as a JWK,
 * encrypted (AES-256-GCM, key derived by HKDF-SHA-256 from a secret the app gives, bound to
 * the session's key name), or in the clear when the app says so explicitly. See docs/dpop.md
 * for the trade-off.
 */
import { createHash } from 'node:crypto';
import { DPoPUnavailableError, InvalidOptionsError } from '../core/errors.js';
import { positiveOption } from '../core/options.js';
import type { DPoPKeyStore } from '../core/ports.js';
import { bounded, replyErrorPrefix, toCommander, type RedisClientLike } from './client.js';
import { defaultPrefix, sessionKeys } from './keys.js';
import { runScript, type Script } from './scripts.js';
import { defaultRecordTtlMs } from './store.js';

/** A secret to encrypt the private key with: at least 32 bytes (a string counts its UTF-8 bytes). */
export type DPoPKeySecret = string | Uint8Array;

/**
 * Options of {@link redisDPoPKeys}: the connection, the session, and how the private key is
 * kept at rest (`secret`, or `unencrypted: true`; exactly one of them).
 * @example
 * redisDPoPKeys({ client, sessionId, secret: process.env.DPOP_KEY_SECRET })
 */
export interface RedisDPoPKeysOptions {
  /** Your connected client: node-redis (v4-v6) or ioredis, as for `redisStore`. */
  client: RedisClientLike;
  /** The session the key pair belongs to (hashed into the key name, as the store's). */
  sessionId: string;
  /**
   * Prefix of the key: use the one of the session's `redisStore`, so the key sits beside the
   * tokens (same hash slot on a Cluster).
   * @default 'authchart:'
   */
  prefix?: string;
  /**
   * Bound of one Redis operation. Past it the call fails with `REDIS_UNAVAILABLE`.
   * @default 2000
   */
  operationTimeoutMs?: number;
  /**
   * Encrypt the private key at rest with this secret (AES-256-GCM, the key derived by
   * HKDF-SHA-256 with a random salt per record, the session's key name as associated data,
   * so a record copied to another session's key does not decrypt). At least 32 bytes: 32
   * random bytes, e.g. `openssl rand -base64 32`, kept where the app keeps its other secrets,
   * not in Redis. To change it, give a list, the new secret first: keys are written with the
   * first and read with any (keep the old one until the sessions it encrypted have ended).
   * @example secret: process.env.DPOP_KEY_SECRET
   * @example secret: [process.env.DPOP_KEY_SECRET, process.env.DPOP_KEY_SECRET_PREVIOUS]
   */
  secret?: DPoPKeySecret | readonly DPoPKeySecret[];
  /**
   * Store the private key in the clear (a JWK anyone who can read the key can use). Only
   * when Redis is already trusted as much as the key: it holds the session's refresh token
   * anyway, whose theft DPoP is meant to make useless. Must be said explicitly.
   * @default false
   */
  unencrypted?: boolean;
  /**
   * How long the key lives after it is written or read: at least the refresh token's
   * lifetime (the store's `ttlMs`), so an abandoned session's key leaves Redis on its own
   * while a session in use keeps it. `null` for no expiry. Reads renew it (`GETEX`, Redis 6.2+).
   * @default 2592000000 (30 days)
   */
  ttlMs?: number | null;
}

/** What Redis holds (JSON): the private key as a JWK, encrypted or not. */
type StoredKey = { v: 1; alg: 'ES256'; enc: 'none'; jwk: JsonWebKey } | { v: 1; alg: 'ES256'; enc: 'A256GCM'; salt: string; iv: string; ct: string };

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const HKDF_INFO = new TextEncoder().encode('authchart/redis-dpop-key/v1');
const MIN_SECRET_BYTES = 32;
/** Rounds of read, then create or replace, before giving up to another writer that keeps winning. */
const ATTEMPTS = 4;

/**
 * Replace a corrupt record (not JSON, not ours, another Redis type) only if it is still what
 * was read. KEYS[1] the key; ARGV: the value read ('' when the key held another type), the
 * new value, ttl ms (0: none). Returns 1 when replaced.
 */
const replaceCorrupt: Script = (() => {
  const source = `
local kind = redis.call('TYPE', KEYS[1])['ok']
local current = false
if kind == 'string' then current = redis.call('GET', KEYS[1]) elseif kind ~= 'none' then current = '' end
if current ~= ARGV[1] then return 0 end
if kind ~= 'string' then redis.call('DEL', KEYS[1]) end
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
`;
  return { source, sha: createHash('sha1').update(source).digest('hex') };
})();

const encoder = new TextEncoder();
const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
/** Bytes in an ArrayBuffer of their own (what Web Crypto's types ask for). */
type Bytes = Uint8Array<ArrayBuffer>;
const fromB64u = (text: string): Bytes => new Uint8Array(Buffer.from(text, 'base64url'));
const asBytes = (secret: DPoPKeySecret): Bytes => (typeof secret === 'string' ? encoder.encode(secret) : new Uint8Array(secret));

function subtle(): SubtleCrypto {
  const crypto = globalThis.crypto?.subtle;
  if (!crypto) throw new DPoPUnavailableError('Web Crypto (crypto.subtle) is not available here: DPoP needs Node 20 or later.');
  return crypto;
}

/** The AES-GCM key of one record: HKDF-SHA-256 of the secret with the record's salt. */
async function recordKey(secret: Bytes, salt: Bytes): Promise<CryptoKey> {
  const material = await subtle().importKey('raw', secret, 'HKDF', false, ['deriveKey']);
  return subtle().deriveKey({ name: 'HKDF', hash: 'SHA-256', salt, info: HKDF_INFO }, material, { name: 'AES-GCM', length: 256 }, false, [
    'encrypt',
    'decrypt',
  ]);
}

/** A key pair for use from a private JWK: the private key is not extractable once imported. */
async function importPair(jwk: JsonWebKey): Promise<CryptoKeyPair> {
  const { kty, crv, x, y, d } = jwk;
  if (kty !== 'EC' || crv !== 'P-256' || typeof x !== 'string' || typeof y !== 'string' || typeof d !== 'string')
    throw new TypeError('not a P-256 private JWK');
  const [privateKey, publicKey] = await Promise.all([
    subtle().importKey('jwk', { kty, crv, x, y, d }, ALGORITHM, false, ['sign']),
    subtle().importKey('jwk', { kty, crv, x, y }, ALGORITHM, true, ['verify']),
  ]);
  return { privateKey, publicKey };
}

/** Parse what Redis holds; null when it is not a record of this format. */
function parse(raw: string): StoredKey | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  const record = value as Partial<Record<string, unknown>> | null;
  if (typeof record !== 'object' || record === null || record.v !== 1 || record.alg !== 'ES256') return null;
  if (record.enc === 'none') return typeof record.jwk === 'object' && record.jwk !== null ? (record as StoredKey) : null;
  if (record.enc === 'A256GCM') return [record.salt, record.iv, record.ct].every((part) => typeof part === 'string') ? (record as StoredKey) : null;
  return null;
}

/** A read that found another Redis type under the key: corrupt, as unparsable data is. */
const WRONG_TYPE = Symbol('wrong type');

/**
 * The session's DPoP key pair in Redis, shared by every server instance (a `DPoPKeyStore`
 * for `createSession({ dpop })`). One key per session, `<prefix>{<hashed session id>}:dpop`,
 * beside the session's tokens. Created once, even when several instances ask at the same
 * moment (`SET NX`); `rotate()` at sign-in replaces it; `clear()` at sign-out removes it.
 * The private key is stored as a JWK, encrypted with `secret` (or in the clear with
 * `unencrypted: true`), and is not extractable once read back.
 *
 * Corrupt data under the key is replaced by a new key (tokens bound to it were of no use
 * anyway); a key that does not decrypt with the secret is never replaced (another instance
 * may hold the right secret): it fails with `DPOP_UNAVAILABLE`, which says so.
 * @example
 * import { redisDPoPKeys, redisLock, redisStore } from 'authchart/redis'
 * const session = createSession({
 *   refresh: oauthRefresher({ tokenEndpoint, clientId, clientSecret }),
 *   store: redisStore({ client, subscriber, sessionId }),
 *   lock: redisLock({ client, subscriber, sessionId }),
 *   dpop: redisDPoPKeys({ client, sessionId, secret: process.env.DPOP_KEY_SECRET }),
 * })
 */
export function redisDPoPKeys(options: RedisDPoPKeysOptions): DPoPKeyStore {
  if (typeof options.sessionId !== 'string' || options.sessionId === '') throw new InvalidOptionsError('redisDPoPKeys needs a sessionId.');
  const secrets = (options.secret === undefined ? [] : Array.isArray(options.secret) ? options.secret : [options.secret]) as DPoPKeySecret[];
  if (options.unencrypted === true && secrets.length > 0) throw new InvalidOptionsError('redisDPoPKeys takes `secret` or `unencrypted: true`, not both.');
  if (options.unencrypted !== true && secrets.length === 0) {
    throw new InvalidOptionsError(
      'redisDPoPKeys needs a `secret` to encrypt the private key at rest (at least 32 random bytes, kept outside Redis), or `unencrypted: true` to store it in the clear (see docs/dpop.md).',
    );
  }
  const secretBytes = secrets.map(asBytes);
  if (secretBytes.some((bytes) => bytes.length < MIN_SECRET_BYTES)) {
    throw new InvalidOptionsError(`redisDPoPKeys: every secret must be at least ${MIN_SECRET_BYTES} bytes (e.g. 32 random bytes: openssl rand -base64 32).`);
  }
  const commander = toCommander(options.client);
  const prefix = options.prefix ?? defaultPrefix;
  const keys = sessionKeys(prefix, options.sessionId);
  // The session's hash tag, as its tokens and lock have: one slot on a Cluster.
  const key = `${prefix}{${keys.id}}:dpop`;
  const associatedData = encoder.encode(`authchart dpop key ${keys.id}`);
  const timeoutMs = positiveOption('operationTimeoutMs', options.operationTimeoutMs, 2000, 'number of milliseconds');
  const ttl = options.ttlMs === null ? 0 : Math.ceil(positiveOption('ttlMs', options.ttlMs, defaultRecordTtlMs, 'number of milliseconds'));

  /** The last record read or written, and its key pair: the same record is not decrypted twice. */
  let cached: { raw: string; pair: CryptoKeyPair } | null = null;
  let creating: Promise<CryptoKeyPair> | null = null;

  const read = () =>
    bounded(commander, 'read the DPoP key', timeoutMs, () =>
      commander.send(ttl > 0 ? ['GETEX', key, 'PX', String(ttl)] : ['GET', key], key).catch((error: unknown) => {
        if (replyErrorPrefix(error) === 'WRONGTYPE') return WRONG_TYPE;
        throw error;
      }),
    ) as Promise<string | null | typeof WRONG_TYPE>;
  const setArgs = (value: string, onlyIfAbsent: boolean) => ['SET', key, value, ...(ttl > 0 ? ['PX', String(ttl)] : []), ...(onlyIfAbsent ? ['NX'] : [])];

  /** A new key pair and its stored form. */
  const generate = async (): Promise<{ raw: string; pair: CryptoKeyPair }> => {
    const made = await subtle().generateKey(ALGORITHM, true, ['sign', 'verify']);
    const jwk = await subtle().exportKey('jwk', made.privateKey);
    const pair = await importPair(jwk);
    if (secretBytes.length === 0)
      return { raw: JSON.stringify({ v: 1, alg: 'ES256', enc: 'none', jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d } }), pair };
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const plaintext = encoder.encode(JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d }));
    const ct = await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: associatedData }, await recordKey(secretBytes[0]!, salt), plaintext);
    return { raw: JSON.stringify({ v: 1, alg: 'ES256', enc: 'A256GCM', salt: b64u(salt), iv: b64u(iv), ct: b64u(new Uint8Array(ct)) }), pair };
  };

  /** The key pair of a record; throws DPOP_UNAVAILABLE when it does not decrypt with any secret. */
  const open = async (raw: string, record: StoredKey): Promise<CryptoKeyPair> => {
    if (cached?.raw === raw) return cached.pair;
    let jwk: JsonWebKey | undefined;
    if (record.enc === 'none') {
      jwk = record.jwk;
    } else {
      if (secretBytes.length === 0) {
        throw new DPoPUnavailableError(
          "The session's DPoP key in Redis is encrypted, and this redisDPoPKeys has no `secret`: give it the secret the other instances use.",
        );
      }
      for (const secret of secretBytes) {
        try {
          const plain = await subtle().decrypt(
            { name: 'AES-GCM', iv: fromB64u(record.iv), additionalData: associatedData },
            await recordKey(secret, fromB64u(record.salt)),
            fromB64u(record.ct),
          );
          jwk = JSON.parse(new TextDecoder().decode(plain)) as JsonWebKey;
          break;
        } catch {
          // Not this secret (or not this session's record): try the next.
        }
      }
      if (!jwk) {
        throw new DPoPUnavailableError(
          "The session's DPoP key in Redis does not decrypt with the configured secret(s). If the secret changed, list the new one first and the previous one after it; the key is left as it is.",
        );
      }
    }
    let pair: CryptoKeyPair;
    try {
      pair = await importPair(jwk);
    } catch {
      throw new DPoPUnavailableError("The session's DPoP key in Redis is not a P-256 private key; remove it (clear()) and sign in again.");
    }
    cached = { raw, pair };
    return pair;
  };

  const getOrCreate = async (): Promise<CryptoKeyPair> => {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const raw = await read();
      const record = typeof raw === 'string' ? parse(raw) : null;
      if (typeof raw === 'string' && record) return open(raw, record);
      const made = await generate();
      const written =
        raw === null
          ? (await bounded(commander, 'create the DPoP key', timeoutMs, () => commander.send(setArgs(made.raw, true), key))) !== null
          : Number(
              await bounded(commander, 'replace a corrupt DPoP key', timeoutMs, () =>
                runScript(commander, replaceCorrupt, key, [raw === WRONG_TYPE ? '' : raw, made.raw, ttl]),
              ),
            ) === 1;
      if (written) {
        cached = made;
        return made.pair;
      }
      // Another instance wrote first: read theirs.
    }
    throw new DPoPUnavailableError("The session's DPoP key in Redis kept changing while it was being created; try again.");
  };

  return {
    getOrCreate() {
      // One creation at a time in this process; other instances are kept apart by SET NX.
      creating ??= getOrCreate().finally(() => {
        creating = null;
      });
      return creating;
    },
    async rotate() {
      const made = await generate();
      await bounded(commander, 'write the DPoP key', timeoutMs, () => commander.send(setArgs(made.raw, false), key));
      cached = made;
      return made.pair;
    },
    async clear() {
      cached = null;
      await bounded(commander, 'remove the DPoP key', timeoutMs, () => commander.send(['DEL', key], key));
    },
  };
}
