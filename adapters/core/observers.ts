/**
 * The session's observers — event listeners, the logger, the inspector — called so that
 * none of them can break the session (R10): what they throw is swallowed.
 */
import type { InspectionEvent, Observer } from 'xstate';
import type { LogEntry, SessionEvents } from './session-types.js';

type Listeners = { [K in keyof SessionEvents]?: Set<(event: SessionEvents[K]) => void> };

/** Listeners of the session's events. Each set is made by the first `on()` of its type: most sessions have none. */
export class SessionEmitter {
  private listeners: Listeners | undefined = undefined;

  constructor(private readonly logger?: (entry: LogEntry) => void) {}

  on<K extends keyof SessionEvents>(type: K, listener: (event: SessionEvents[K]) => void): () => void {
    this.listeners ??= {};
    let set = this.listeners[type] as Set<typeof listener> | undefined;
    if (!set) {
      set = new Set();
      (this.listeners as Record<string, unknown>)[type] = set;
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  emit<K extends keyof SessionEvents>(type: K, event: SessionEvents[K]): void {
    const set = this.listeners?.[type] as Set<(event: SessionEvents[K]) => void> | undefined;
    if (!set) return;
    for (const listener of set) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  log(entry: LogEntry): void {
    if (!this.logger) return;
    try {
      this.logger(entry);
    } catch {
      // A logger that throws must not break a refresh.
    }
  }

  get logging(): boolean {
    return this.logger !== undefined;
  }
}

/** The user's inspector, wrapped so that it cannot throw into the actor. */
export function safeInspector(
  inspect: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined,
): ((event: InspectionEvent) => void) | undefined {
  if (!inspect) return undefined;
  const next = typeof inspect === 'function' ? inspect : inspect.next?.bind(inspect);
  if (!next) return undefined;
  return (event) => {
    try {
      next(event);
    } catch {
      // An inspector's failure is its own.
    }
  };
}
