/**
 * A token store with faults, over the real memory store: synchronous when healthy; slow
 * (every call answered in order after a delay, as one connection to Redis or IndexedDB
 * would); hung (calls get no answer until it recovers, then half of them land late and half
 * never answer); or refusing writes (set() throws, as Web Storage does when full).
 */
import type { StoredTokens, TokenSet, TokenStore } from '../../adapters/core/ports.js';
import { memoryStore } from '../../adapters/stores/memory.js';
import type { Random } from './random.js';

export type StoreMode = { kind: 'healthy' } | { kind: 'slow'; minMs: number; maxMs: number } | { kind: 'hang' } | { kind: 'failingWrites' };

export interface ChaosStore {
  /** What sessions are given. */
  store: TokenStore;
  /** The record as it is now, read without faults (the soak's own view, never a session's). */
  peek(): StoredTokens | null;
  /** Change the mode. Leaving `hang` lets half the held calls land late and drops the rest. */
  setMode(mode: StoreMode): void;
  readonly mode: StoreMode;
  /** Whether a record with this refresh token was ever written (landed) in the store. */
  everHeld(refreshToken: string): boolean;
}

type Call<T> = () => T;

/** `onClear` is told of every clear that lands, with the record it removes. */
export function chaosStore(
  random: Random,
  onClear: (removed: StoredTokens | null) => void,
  /** Told of every write that lands (for traces). */
  onWrite?: (tokens: TokenSet, expectedVersion: number | undefined, written: StoredTokens | null) => void,
): ChaosStore {
  const inner = memoryStore();
  const landed = new Set<string>();
  let mode: StoreMode = { kind: 'healthy' };
  /** Calls held by a hang, released (or dropped) when it ends. */
  let held: { run: () => void }[] = [];
  /** The slow mode's queue: each call answers after the previous one. */
  let tail: Promise<unknown> = Promise.resolve();

  const apply = <T>(call: Call<T>): T | Promise<T> => {
    switch (mode.kind) {
      case 'healthy':
      case 'failingWrites':
        return call();
      case 'slow': {
        const delay = random.int(mode.minMs, mode.maxMs);
        const result = tail.then(
          () =>
            new Promise<T>((resolve, reject) =>
              setTimeout(() => {
                try {
                  resolve(call());
                } catch (error) {
                  reject(error);
                }
              }, delay),
            ),
        );
        tail = result.catch(() => undefined);
        return result;
      }
      case 'hang':
        return new Promise<T>((resolve, reject) => {
          held.push({
            run: () => {
              try {
                resolve(call());
              } catch (error) {
                reject(error);
              }
            },
          });
        });
    }
  };

  const store: TokenStore = {
    get: () => apply(() => inner.get() as StoredTokens | null),
    set: (tokens: TokenSet, options?: { expectedVersion?: number }) => {
      if (mode.kind === 'failingWrites') {
        const error = new Error('The quota has been exceeded.');
        error.name = 'QuotaExceededError';
        throw error;
      }
      return apply(() => {
        const written = inner.set(tokens, options) as StoredTokens | null;
        if (written?.refreshToken) landed.add(written.refreshToken);
        onWrite?.(tokens, options?.expectedVersion, written);
        return written;
      });
    },
    clear: () =>
      apply(() => {
        onClear(inner.get() as StoredTokens | null);
        inner.clear();
      }),
    subscribe: (listener) => inner.subscribe!(listener),
  };

  return {
    store,
    peek: () => inner.get() as StoredTokens | null,
    everHeld: (refreshToken) => landed.has(refreshToken),
    get mode() {
      return mode;
    },
    setMode(next) {
      const release = mode.kind === 'hang' ? held : [];
      held = [];
      mode = next;
      // A hung store that comes back: some calls were executed after all (late), some were lost.
      for (const call of release) if (random.chance(0.5)) call.run();
    },
  };
}
