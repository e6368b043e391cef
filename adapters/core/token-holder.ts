/**
 * The tokens a session holds, and every way it reaches its store: bounded calls
 * (`storeTimeoutMs`), one at a time, with its own writes told apart from other tabs' and
 * instances' (which it follows), and writes that failed kept in memory and tried again
 * (R14). Holds tokens, never hands them to the machine: the machine gets facts.
 */
import { type AuthchartError, isAuthchartError, StoreUnavailableError } from './errors.js';
import { expiryOfTokenSet, refreshTime } from './expiry.js';
import { normalizeTokenType, withNewerAccess } from './record.js';
import type { MaybePromise, StoredTokens, TokenSet, TokenStore } from './ports.js';
import type { Credential } from './waiters.js';

/** What the machine keeps of a token set. Never a token. */
export interface TokenFacts {
  tokenVersion: number;
  expiresAt: number | null;
  refreshAt: number | null;
}

export interface TokenHolderOptions {
  store: TokenStore;
  storeTimeoutMs: number;
  now: () => number;
  leewayMs: number;
  minRefreshIntervalMs: number;
  proactive: boolean;
}

/** A write that failed: the tokens the session uses anyway, and the store version they replace (undefined: whatever is there). */
interface Unsaved {
  tokens: TokenSet;
  baseVersion: number | undefined;
}

const MAX_RETRY_MS = 30_000;
/** How many refresh tokens rotated away are remembered (a stale record carries one of the last few). */
const ROTATED_AWAY_KEPT = 16;

/** The start of every session's queue of store operations: one settled promise for all of them. */
const SETTLED: Promise<unknown> = Promise.resolve();

function unref(timer: ReturnType<typeof setTimeout>): void {
  (timer as { unref?: () => void }).unref?.();
}

/** The store error's name and message only: a store's own errors may quote what it was given. */
function sanitize(error: unknown): Error {
  const copy = new Error(typeof (error as { message?: unknown })?.message === 'string' ? (error as Error).message : 'store error');
  copy.name = typeof (error as { name?: unknown })?.name === 'string' ? (error as Error).name : 'Error';
  return copy;
}

/**
 * Run one store call within `timeoutMs` (`storeTimeoutMs`). A store that answers
 * synchronously (memory, Web Storage) is answered synchronously. Anything it throws that is
 * not already an authchart error, and a call past the bound, is a {@link StoreUnavailableError}.
 * Used by the session and by the session manager, which reads and writes stores of its own.
 */
export function boundedStoreCall<T>(operation: string, timeoutMs: number, call: () => MaybePromise<T>): MaybePromise<T> {
  const failed = (error: unknown) => (isAuthchartError(error) ? (error as AuthchartError) : new StoreUnavailableError(operation, { cause: sanitize(error) }));
  let result: MaybePromise<T>;
  try {
    result = call();
  } catch (error) {
    throw failed(error);
  }
  if (!(result instanceof Promise)) return result;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StoreUnavailableError(operation, { timeoutMs })), timeoutMs);
    unref(timer);
    (result as Promise<T>).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(failed(error));
      },
    );
  });
}

export class TokenHolder {
  private current: { tokens: StoredTokens; tokenVersion: number } | null = null;
  private versions = 0;
  private selfWrites = 0;
  /** Writes (and clears) this session has started, ever: a read made before one may be stale. */
  private writesStarted = 0;
  /** Checks to run once this session's writes are done (made when the first is added). */
  private afterWritesChecks: Set<() => void> | undefined = undefined;
  private queue: Promise<unknown> = SETTLED;
  private unsaved: Unsaved | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private retryDelay = 1_000;
  private stopped = false;
  /** Refresh tokens this session presented in rotations whose answer it got: dead at the server. */
  private rotatedAway: string[] | undefined = undefined;

  constructor(
    private readonly options: TokenHolderOptions,
    /** Told when a write that failed earlier is given up for a newer record in the store. */
    private readonly onSuperseded: (record: StoredTokens | null) => void,
  ) {}

  /** The tokens held now. */
  get tokens(): StoredTokens | null {
    return this.current?.tokens ?? null;
  }

  get tokenVersion(): number {
    return this.current?.tokenVersion ?? 0;
  }

  /** Whether new tokens are held that the store has not taken yet (its writes failed). */
  get hasUnsavedWrite(): boolean {
    return this.unsaved !== null;
  }

  /** The store version an owed write replaces (undefined: whatever is there, or no write owed). */
  get unsavedBaseVersion(): number | undefined {
    return this.unsaved?.baseVersion;
  }

  credential(): Credential | null {
    const current = this.current;
    if (!current) return null;
    const { accessToken, tokenType } = current.tokens;
    return tokenType === undefined
      ? { accessToken, tokenVersion: current.tokenVersion }
      : { accessToken, tokenVersion: current.tokenVersion, tokenType: tokenType as Credential['tokenType'] };
  }

  /** A known expiry that has passed. A token with no known expiry is used until a 401. */
  isExpired(): boolean {
    const expiresAt = this.current?.tokens.expiresAt;
    return expiresAt !== undefined && expiresAt <= this.options.now();
  }

  /** Hold `record` as the session's tokens, under a new token version. */
  hold(record: StoredTokens): TokenFacts {
    this.current = { tokens: record, tokenVersion: ++this.versions };
    const expiresAt = record.expiresAt ?? null;
    const { proactive, leewayMs, minRefreshIntervalMs, now } = this.options;
    return { tokenVersion: this.current.tokenVersion, expiresAt, refreshAt: proactive ? refreshTime(expiresAt, now(), leewayMs, minRefreshIntervalMs) : null };
  }

  /** Replace the held record without a new token version (same access token, e.g. a rotated refresh token kept). */
  keep(record: StoredTokens): void {
    if (this.current) this.current = { tokens: record, tokenVersion: this.current.tokenVersion };
  }

  /**
   * A record from the store becomes what the session holds (another tab's or instance's, or
   * this session's own write that landed late): a write still owed is done or obsolete.
   */
  discardOwedWrite(): void {
    this.forgetUnsaved();
  }

  /** Forget the tokens (logged out). A write still owed is dropped with them. */
  drop(): void {
    this.current = null;
    this.forgetUnsaved();
  }

  /** Whether `record` is what is held (same tokens). */
  holds(record: TokenSet): boolean {
    const held = this.current?.tokens;
    return held !== undefined && held.accessToken === record.accessToken && held.refreshToken === record.refreshToken;
  }

  /** A token call of this session rotated `presented` into `next`: a record carrying `presented` is older than what it holds. */
  noteRotation(presented: string, next: string | undefined): void {
    if (presented === '' || next === undefined || next === presented) return;
    this.rotatedAway ??= [];
    this.rotatedAway.push(presented);
    if (this.rotatedAway.length > ROTATED_AWAY_KEPT) this.rotatedAway.shift();
  }

  /** Whether a token call of this session rotated this refresh token away (a record carrying it is stale). */
  isRotatedAway(refreshToken: string | undefined): boolean {
    return refreshToken !== undefined && this.rotatedAway?.includes(refreshToken) === true;
  }

  /** A token set the app handed over, with its expiry filled in by the clock rule. */
  withExpiry(tokens: TokenSet): TokenSet {
    const expiresAt = expiryOfTokenSet(tokens, this.options.now(), this.options.minRefreshIntervalMs);
    const out: TokenSet = { accessToken: tokens.accessToken };
    if (tokens.refreshToken !== undefined) out.refreshToken = tokens.refreshToken;
    if (expiresAt !== undefined) out.expiresAt = expiresAt;
    const tokenType = normalizeTokenType(tokens.tokenType);
    if (tokenType) out.tokenType = tokenType;
    return out;
  }

  // ── the store, bounded ──────────────────────────────────────────────────────────────

  /** Run one store call within `storeTimeoutMs` (see {@link boundedStoreCall}). */
  private bounded<T>(operation: string, call: () => MaybePromise<T>): MaybePromise<T> {
    return boundedStoreCall(operation, this.options.storeTimeoutMs, call);
  }

  /** Read the store's record (bounded). */
  read(): MaybePromise<StoredTokens | null> {
    return this.bounded('read the tokens', () => this.options.store.get());
  }

  /**
   * Write a record (bounded), marked as this session's own so its echo is not followed. A
   * write that lands discharges the write owed when it began (unless it is that one): what it
   * stored was built on the tokens held then, so it is newer, and the owed write's retry
   * would put older tokens back over it.
   */
  write(tokens: TokenSet, expectedVersion?: number): Promise<StoredTokens | null> {
    this.writeStarts();
    const owed = this.unsaved;
    return Promise.resolve()
      .then(() => this.bounded('write the tokens', () => this.options.store.set(tokens, expectedVersion === undefined ? undefined : { expectedVersion })))
      .then((written) => {
        if (written && owed !== null && this.unsaved === owed && owed.tokens !== tokens) this.forgetUnsaved();
        return written;
      })
      .finally(() => this.writeDone());
  }

  /**
   * The session's first write, before anything is queued: answered synchronously when the
   * store is synchronous, so a session created with `tokens` over memory or Web Storage is
   * ready at once (its first request is sent in the same turn).
   */
  writeFirst(tokens: TokenSet): MaybePromise<StoredTokens | null> {
    this.writeStarts();
    let result: MaybePromise<StoredTokens | null>;
    try {
      result = this.bounded('write the tokens', () => this.options.store.set(tokens));
    } catch (error) {
      this.writeDone();
      return Promise.reject(error);
    }
    if (!(result instanceof Promise)) {
      this.writeDone();
      return result;
    }
    const written = result.finally(() => this.writeDone());
    this.queue = written.catch(() => undefined);
    return written;
  }

  clear(): Promise<void> {
    this.writeStarts();
    return Promise.resolve()
      .then(() => this.bounded('clear the tokens', () => this.options.store.clear()))
      .finally(() => this.writeDone());
  }

  /** Whether a write of this session's is under way (a change heard now may be its echo). */
  get writing(): boolean {
    return this.selfWrites > 0;
  }

  /**
   * Run `check` once this session's writes are done, on a later turn (after the code that
   * awaited them has held what they wrote). A change heard while writing may be another
   * tab's, not the echo of ours: it is checked again then, never dropped.
   */
  afterWrites(check: () => void): void {
    this.afterWritesChecks ??= new Set();
    this.afterWritesChecks.add(check);
    if (!this.writing) this.scheduleAfterWrites();
  }

  /** A mark to tell, after a read, whether a write of this session started meanwhile. */
  get writeMark(): number {
    return this.writesStarted;
  }

  private writeStarts(): void {
    this.selfWrites++;
    this.writesStarted++;
  }

  private writeDone(): void {
    this.selfWrites--;
    if (this.selfWrites === 0 && this.afterWritesChecks !== undefined && this.afterWritesChecks.size > 0) this.scheduleAfterWrites();
  }

  private scheduleAfterWrites(): void {
    const timer = setTimeout(() => {
      if (this.writing || this.stopped) return;
      // Dropped, not cleared: most sessions need it once (the echo of their first write).
      const checks = this.afterWritesChecks ?? [];
      this.afterWritesChecks = undefined;
      for (const check of checks) check();
    }, 0);
    unref(timer);
  }

  /** Run store operations one at a time (login, push, logout); a failed one does not stop the next. */
  serial<T>(op: () => T | Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Settles when the serial operations queued so far have. */
  settled(): Promise<void> {
    return this.queue.then(() => undefined);
  }

  // ── writes that failed ──────────────────────────────────────────────────────────────

  /**
   * The store refused `tokens` (or did not answer): hold them anyway, under a new token
   * version when the access token is new, and try the write again later with backoff. The
   * session never goes back to tokens the server has rotated away (R11).
   */
  holdUnsaved(tokens: TokenSet, baseVersion: number | undefined): TokenFacts | null {
    const record: StoredTokens = { ...tokens, version: baseVersion ?? 0 };
    this.unsaved = { tokens, baseVersion };
    this.retryDelay = 1_000;
    this.scheduleRetry();
    if (this.current && this.current.tokens.accessToken === tokens.accessToken) {
      this.keep(record);
      return null;
    }
    return this.hold(record);
  }

  /** Try the owed write now (a refresh does, before it reads the store). Resolves whether the store is in step. */
  async flush(): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const unsaved = this.unsaved;
      if (!unsaved) return true;
      let written: StoredTokens | null;
      try {
        written = await this.write(unsaved.tokens, unsaved.baseVersion);
      } catch {
        if (this.unsaved === unsaved) this.scheduleRetry();
        return false;
      }
      if (this.unsaved !== unsaved) return true;
      if (written) {
        this.forgetUnsaved();
        // Written with a pushed access token newer than the one held (below): held as new tokens.
        if (this.holds(written)) this.keep(written);
        else this.onSuperseded(written);
        return true;
      }
      // The store moved on (a write that timed out landed late, or another tab or instance
      // wrote). Ours landed: done. An older record (it carries a refresh token this session
      // rotated away: a push, a late write): ours goes on top of it. Someone else's: theirs
      // is newer than what we based ours on.
      let current: StoredTokens | null;
      try {
        current = await this.read();
      } catch {
        this.scheduleRetry();
        return false;
      }
      if (this.unsaved !== unsaved) return true;
      if (current && this.isRotatedAway(current.refreshToken)) {
        // A push another tab stored with the refresh token we rotated away: the rotated one is
        // the only valid one, so ours goes on top, with the newer access token of the two (R15).
        this.unsaved = { tokens: withNewerAccess(unsaved.tokens, current), baseVersion: current.version };
        continue;
      }
      this.forgetUnsaved();
      if (current && current.accessToken === unsaved.tokens.accessToken && current.refreshToken === unsaved.tokens.refreshToken) {
        this.keep(current);
      } else {
        this.onSuperseded(current);
      }
      return true;
    }
    this.scheduleRetry();
    return false;
  }

  /**
   * Whether a record in the store is newer than what this session holds: not one that carries
   * a refresh token this session rotated away, and, while a write is owed, one newer than the
   * record that write replaces.
   */
  supersedes(record: StoredTokens): boolean {
    return this.supersedesOwedWrite()(record);
  }

  /** {@link supersedes} as it stands now, kept past a `drop()` (which forgets the owed write). */
  supersedesOwedWrite(): (record: StoredTokens) => boolean {
    const owed = this.unsaved;
    return (record) => !this.isRotatedAway(record.refreshToken) && (owed === null || owed.baseVersion === undefined || record.version > owed.baseVersion);
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(MAX_RETRY_MS, this.retryDelay * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.serial(() => this.flush());
    }, delay);
    unref(this.retryTimer);
  }

  private forgetUnsaved(): void {
    this.unsaved = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Stop retrying (the session is disposed). */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }
}
