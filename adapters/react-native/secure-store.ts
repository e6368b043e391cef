import { InvalidOptionsError, RefreshError } from '../core/errors.js';
import type { StoredTokens, TokenSet, TokenStore } from '../core/ports.js';
import { pickTokens } from '../stores/memory.js';
import { parseRecord, serializeRecord } from '../stores/web-storage.js';

/**
 * The part of Expo's `SecureStore` this uses (`import * as SecureStore from 'expo-secure-store'`);
 * any store with the same three calls will do (react-native-keychain wrapped, a test fake).
 */
export interface SecureStoreLike {
  getItemAsync(key: string, options?: object): Promise<string | null>;
  setItemAsync(key: string, value: string, options?: object): Promise<void>;
  deleteItemAsync(key: string, options?: object): Promise<void>;
}

export interface SecureStoreTokenStoreOptions {
  /**
   * The key of the record (letters, digits, `.`, `-` and `_`, as SecureStore requires).
   * Chunks of a large record live under `<key>.<generation>.<n>`.
   * @default 'authchart.tokens'
   * @example key: 'myapp.tokens'
   */
  key?: string;
  /**
   * The largest value written, in UTF-8 bytes. SecureStore warns above 2048 bytes and the
   * iOS keychain may refuse such values; records larger than this (a JWT access token with
   * many claims, plus an id_token-sized refresh token) are split.
   * @default 2048
   * @example maxValueBytes: 1024 // a keychain wrapper with a lower limit
   */
  maxValueBytes?: number;
  /**
   * Passed to every SecureStore call: `keychainService`, `keychainAccessible`, …
   * (not `requireAuthentication`: the session reads the store on every refresh).
   * @default undefined
   * @example { keychainAccessible: SecureStore.AFTER_FIRST_UNLOCK }
   */
  itemOptions?: object;
}

/** What the key of the record holds: the record itself when it fits, else where its chunks are. */
type Manifest =
  | { format: typeof MANIFEST_FORMAT; version: number; inline: string }
  | { format: typeof MANIFEST_FORMAT; version: number; generation: string; chunks: number; bytes: number };

const MANIFEST_FORMAT = 1;
const KEY_PATTERN = /^[\w.-]+$/;
/** How many times a read follows a record replaced under it (by another process) before giving up. */
const READ_ATTEMPTS = 5;

/** UTF-8 length of a string, without TextEncoder (not in every React Native engine). */
function utf8Bytes(text: string): number {
  let bytes = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/** Split `text` into pieces of at most `limit` UTF-8 bytes, never inside a character. */
function split(text: string, limit: number): string[] {
  const pieces: string[] = [];
  let piece = '';
  let bytes = 0;
  for (const char of text) {
    const size = utf8Bytes(char);
    if (bytes + size > limit) {
      pieces.push(piece);
      piece = '';
      bytes = 0;
    }
    piece += char;
    bytes += size;
  }
  if (piece !== '') pieces.push(piece);
  return pieces;
}

function parseManifest(raw: string | null): Manifest | null {
  if (raw === null) return null;
  try {
    const m = JSON.parse(raw) as Record<string, unknown>;
    if (m.format !== MANIFEST_FORMAT || typeof m.version !== 'number' || !Number.isInteger(m.version) || m.version < 1) return null;
    if (typeof m.inline === 'string') return { format: MANIFEST_FORMAT, version: m.version, inline: m.inline };
    if (
      typeof m.generation === 'string' &&
      KEY_PATTERN.test(m.generation) &&
      Number.isInteger(m.chunks) &&
      (m.chunks as number) > 0 &&
      Number.isInteger(m.bytes)
    ) {
      return { format: MANIFEST_FORMAT, version: m.version, generation: m.generation, chunks: m.chunks as number, bytes: m.bytes as number };
    }
    return null;
  } catch {
    return null;
  }
}

let generations = 0;
/** A name for a new set of chunks; unique enough that two writers never share one (not a secret). */
function newGeneration(): string {
  return `${Date.now().toString(36)}${(++generations).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Writers in this JavaScript realm take turns per SecureStore and key, so compare-and-set
 * is a real check-then-write; listeners of every handle on the same record hear each write.
 */
const realm = new WeakMap<object, Map<string, { turn: Promise<unknown>; listeners: Set<() => void> }>>();
function shared(secure: object, key: string) {
  let byKey = realm.get(secure);
  if (!byKey) {
    byKey = new Map();
    realm.set(secure, byKey);
  }
  let entry = byKey.get(key);
  if (!entry) {
    entry = { turn: Promise.resolve(), listeners: new Set() };
    byKey.set(key, entry);
  }
  return entry;
}

/**
 * Tokens in Expo SecureStore (iOS keychain, Android Keystore-encrypted preferences), as one
 * record with a version. A record that fits in one value (`maxValueBytes`) is written in
 * one call. A larger one is split into chunks written under a new generation, and only
 * then does the small record under `key` (the manifest) flip to that generation: the flip
 * is the one write that commits, so a reader sees the old record or the new one, never
 * half of either. Chunks of the old generation are deleted after the flip; a reader that
 * finds them gone reads the manifest again. Compare-and-set and `subscribe` hold within the
 * app's JavaScript realm (one app process); a second process writing the same keys (an
 * app extension) is read consistently but not serialised with.
 *
 * What is stored is validated on every read: corrupt or foreign data counts as "no tokens";
 * a SecureStore call that fails rejects (the session treats that as unavailable, not as
 * logged out). Chunks orphaned by a crash between writes are not reachable and hold no
 * record.
 * @example
 * import * as SecureStore from 'expo-secure-store'
 * import { appStateWake, secureStore } from 'authchart/react-native'
 *
 * const session = createSession({ refresh, store: secureStore(SecureStore), wake: appStateWake(AppState) })
 */
export function secureStore(secure: SecureStoreLike, options: SecureStoreTokenStoreOptions = {}): TokenStore {
  const key = options.key ?? 'authchart.tokens';
  const limit = options.maxValueBytes ?? 2048;
  const itemOptions = options.itemOptions;
  if (!KEY_PATTERN.test(key)) throw new InvalidOptionsError(`secureStore key "${key}" may hold only letters, digits, ".", "-" and "_" (SecureStore's rule).`);
  // The manifest of a chunked record (about 100 bytes) must fit in one value.
  if (!Number.isInteger(limit) || limit < 128) throw new InvalidOptionsError('secureStore maxValueBytes must be an integer of at least 128.');
  const chunkKey = (generation: string, index: number) => `${key}.${generation}.${index}`;
  const entry = shared(secure, key);
  // The highest version written, kept beside the record and across clear(), so that a
  // version from before a logout never matches again, even for a store object that never saw it.
  const counterKey = `${key}.version`;
  let lastVersion = 0;
  const storedCounter = async () => {
    const value = Number(await secure.getItemAsync(counterKey, itemOptions).catch(() => null));
    return Number.isSafeInteger(value) && value > 0 ? value : 0;
  };

  const inTurn = <T>(operation: () => Promise<T>): Promise<T> => {
    const result = entry.turn.then(operation, operation);
    entry.turn = result.catch(() => undefined);
    return result;
  };
  const notify = () => {
    for (const listener of [...entry.listeners]) listener();
  };
  const readManifest = async () => parseManifest(await secure.getItemAsync(key, itemOptions));
  const dropChunks = (manifest: Manifest | null) => {
    if (!manifest || !('generation' in manifest)) return Promise.resolve();
    const deletions = Array.from({ length: manifest.chunks }, (_, i) => secure.deleteItemAsync(chunkKey(manifest.generation, i), itemOptions));
    // Best effort: a chunk left behind belongs to no manifest and is never read.
    return Promise.allSettled(deletions).then(() => undefined);
  };

  const read = async (): Promise<{ manifest: Manifest; record: StoredTokens | null } | null> => {
    let manifest = await readManifest();
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      if (!manifest) return null;
      lastVersion = Math.max(lastVersion, manifest.version);
      let text: string | null;
      if ('inline' in manifest) {
        text = manifest.inline;
      } else {
        const { generation, chunks, bytes } = manifest;
        const parts = await Promise.all(Array.from({ length: chunks }, (_, i) => secure.getItemAsync(chunkKey(generation, i), itemOptions)));
        text = parts.some((part) => part === null) ? null : parts.join('');
        if (text !== null && utf8Bytes(text) !== bytes) text = null;
      }
      if (text !== null) {
        const record = parseRecord(text);
        return { manifest, record: record && record.version === manifest.version ? record : null };
      }
      // A chunk is missing: another writer replaced this generation after the manifest was read.
      const again = await readManifest();
      // (Only a chunked manifest gets here: an inline one always has its text.)
      const { generation } = manifest as Extract<Manifest, { generation: string }>;
      if (again && 'generation' in again && again.generation === generation) return { manifest: again, record: null };
      manifest = again;
    }
    throw new RefreshError(
      { kind: 'transient', reason: 'STORE_CONTENDED' },
      `The token record in SecureStore was replaced ${READ_ATTEMPTS} times while it was read; try again.`,
    );
  };

  return {
    get: () => inTurn(async () => (await read())?.record ?? null),
    set: (tokens: TokenSet, setOptions?: { expectedVersion?: number }) =>
      inTurn(async () => {
        const current = await read();
        const currentVersion = current?.record ? current.manifest.version : 0;
        const expected = setOptions?.expectedVersion;
        if (expected !== undefined && currentVersion !== expected) return null;
        const version = Math.max(lastVersion, await storedCounter(), current?.manifest.version ?? 0) + 1;
        await secure.setItemAsync(counterKey, String(version), itemOptions);
        const record: StoredTokens = { ...pickTokens(tokens), version };
        const text = JSON.stringify(serializeRecord(record));
        const inline = JSON.stringify({ format: MANIFEST_FORMAT, version, inline: text });
        if (utf8Bytes(inline) <= limit) {
          await secure.setItemAsync(key, inline, itemOptions);
        } else {
          const generation = newGeneration();
          const pieces = split(text, limit);
          await Promise.all(pieces.map((piece, i) => secure.setItemAsync(chunkKey(generation, i), piece, itemOptions)));
          // The commit: until this write, readers see the previous record.
          await secure.setItemAsync(
            key,
            JSON.stringify({ format: MANIFEST_FORMAT, version, generation, chunks: pieces.length, bytes: utf8Bytes(text) }),
            itemOptions,
          );
        }
        lastVersion = version;
        await dropChunks(current?.manifest ?? null);
        notify();
        return record;
      }),
    clear: () =>
      inTurn(async () => {
        const manifest = await readManifest().catch(() => null);
        await secure.deleteItemAsync(key, itemOptions);
        await dropChunks(manifest);
        notify();
      }),
    subscribe(listener) {
      entry.listeners.add(listener);
      return () => entry.listeners.delete(listener);
    },
  };
}
