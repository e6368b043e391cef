import type { RefreshLock } from '../core/ports.js';

/**
 * Where the result of one refresh-token rotation is shared between server instances, for
 * tokens kept in a cookie: under a keyed hash of the refresh token that was presented, the
 * sealed cookie of the tokens it was exchanged for, for a short while. A request that
 * still carries the old cookie gets that result instead of presenting a rotated refresh
 * token (which a strict server would answer by revoking the whole session).
 * `redisRotationCache` from `authchart/redis` implements it; write your own against this.
 */
export interface SharedRotationCache {
  /** The sealed result stored under `key`, or null. */
  get(key: string): Promise<string | null>;
  /**
   * Store `value` under `key` for `ttlMs` unless a value is there already. Resolves with
   * the value stored now: `value` when it was added, the earlier one otherwise.
   */
  add(key: string, value: string, ttlMs: number): Promise<string>;
  /**
   * The lock of one rotation across instances (one token call per refresh token). Without
   * it two instances could present the same refresh token at once.
   */
  lock?(key: string): RefreshLock;
}

/** The in-process layer: a bounded map with expiry, in front of the shared one. */
export class LocalRotationCache {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();
  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  get(key: string): string | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return null;
    }
    return entry.value;
  }

  /** Keep `value` unless one is there; returns the one kept. */
  add(key: string, value: string, ttlMs: number): string {
    const existing = this.get(key);
    if (existing !== null) return existing;
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    if (this.entries.size > this.maxEntries) {
      // Oldest first (insertion order); expired ones go first anyway.
      const now = this.now();
      for (const [k, entry] of this.entries) {
        if (this.entries.size <= this.maxEntries) break;
        if (entry.expiresAt <= now || this.entries.size > this.maxEntries) this.entries.delete(k);
      }
    }
    return value;
  }

  get size(): number {
    return this.entries.size;
  }
}
