/**
 * The requests waiting for a refresh. The statechart counts them and says when to release
 * or reject them; this is where their promises live (never in machine context).
 */
export interface Credential {
  accessToken: string;
  /** Version of the token set the access token belongs to; a 401 reports it back (R3). */
  tokenVersion: number;
  /** `'DPoP'` or `'Bearer'` when the token set records it (see `TokenSet.tokenType`). */
  tokenType?: 'DPoP' | 'Bearer';
}

interface Waiter {
  resolve: (credential: Credential) => void;
  reject: (error: unknown) => void;
  cleanup: () => void;
}

export class Waiters {
  private readonly waiting = new Map<string, Waiter>();
  private nextId = 0;

  constructor(
    private readonly maxWaitMs: () => number,
    private readonly onTimeout: (maxWaitMs: number) => Error,
    /** Told when a waiter leaves on its own (abort, timeout), so the machine's count follows. */
    private readonly onLeave: (requestId: string) => void,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  /**
   * Register a waiter, then call `announce(requestId)` (which sends the event to the
   * machine; the machine may settle the waiter synchronously).
   */
  wait(signal: AbortSignal | undefined, announce: (requestId: string) => void): Promise<Credential> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const requestId = `w${++this.nextId}`;
    return new Promise<Credential>((resolve, reject) => {
      const maxWaitMs = this.maxWaitMs();
      const leave = (error: unknown) => {
        if (!this.waiting.delete(requestId)) return;
        cleanup();
        reject(error);
        this.onLeave(requestId);
      };
      const onAbort = () => leave(signal!.reason);
      const timer = setTimeout(() => leave(this.onTimeout(maxWaitMs)), maxWaitMs);
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(requestId, { resolve, reject, cleanup });
      announce(requestId);
    });
  }

  /** Settle one waiter. */
  settle(requestId: string, outcome: { credential: Credential } | { error: unknown }): void {
    const waiter = this.waiting.get(requestId);
    if (!waiter) return;
    this.waiting.delete(requestId);
    waiter.cleanup();
    if ('credential' in outcome) waiter.resolve(outcome.credential);
    else waiter.reject(outcome.error);
  }

  /** Settle every waiter the same way; returns how many there were. */
  settleAll(outcome: { credential: Credential } | { error: unknown }): number {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const waiter of all) {
      waiter.cleanup();
      if ('credential' in outcome) waiter.resolve(outcome.credential);
      else waiter.reject(outcome.error);
    }
    return all.length;
  }
}
