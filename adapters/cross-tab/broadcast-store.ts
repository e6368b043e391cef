import type { TokenStore } from '../core/ports.js';
import { unlessFrozen, watchLifecycle } from './liveness.js';

export interface BroadcastStoreOptions {
  /**
   * The BroadcastChannel name shared by the tabs.
   * @default 'authchart'
   */
  channel?: string;
}

/** What tabs tell each other: that the record changed, and its version. Never a token. */
export interface ChangeMessage {
  source: 'authchart';
  v: 1;
  kind: 'set' | 'clear';
  version: number;
}

/** Whether `data` is a message of ours; anything malformed or foreign is ignored. */
export function isChangeMessage(data: unknown): data is ChangeMessage {
  if (typeof data !== 'object' || data === null) return false;
  const m = data as Record<string, unknown>;
  return (
    m.source === 'authchart' &&
    m.v === 1 &&
    (m.kind === 'set' || m.kind === 'clear') &&
    typeof m.version === 'number' &&
    Number.isInteger(m.version) &&
    m.version >= 0
  );
}

/**
 * Wrap a store so that other tabs hear of every write: after `set` or `clear`, a message
 * with the new version goes out on a BroadcastChannel, and `subscribe` listens for the
 * other tabs' messages. The session then re-reads the store: new tokens release its queue
 * at once (`TOKENS_UPDATED`), a cleared store logs it out, a login reaches it. Messages
 * carry no token; malformed or foreign ones are ignored.
 * @example
 * const store = broadcastStore(indexedDbStore(), { channel: 'myapp.auth' })
 */
export function broadcastStore(inner: TokenStore, options: BroadcastStoreOptions = {}): TokenStore {
  const name = options.channel ?? 'authchart';
  let sender: BroadcastChannel | undefined;
  const announce = (message: ChangeMessage) => {
    if (typeof BroadcastChannel === 'undefined') return;
    try {
      sender ??= new BroadcastChannel(name);
      sender.postMessage(message);
    } catch {
      // A closed or unsupported channel: the other tabs will re-read on their next refresh.
    }
  };
  return {
    get: () => inner.get(),
    async set(tokens, setOptions) {
      const written = await inner.set(tokens, setOptions);
      if (written) announce({ source: 'authchart', v: 1, kind: 'set', version: written.version });
      return written;
    },
    async clear() {
      await inner.clear();
      announce({ source: 'authchart', v: 1, kind: 'clear', version: 0 });
    },
    subscribe(listener) {
      watchLifecycle();
      const unsubscribeInner = inner.subscribe?.(listener);
      if (typeof BroadcastChannel === 'undefined') return () => unsubscribeInner?.();
      const channel = new BroadcastChannel(name);
      channel.onmessage = (event: MessageEvent) => {
        // Not from the message itself: Chromium delivers messages to a frozen tab, and a store
        // read started there could not finish; its open IndexedDB transaction would block
        // every other tab's writes until the tab resumes.
        if (isChangeMessage(event.data)) unlessFrozen(listener);
      };
      return () => {
        channel.close();
        unsubscribeInner?.();
      };
    },
  };
}
