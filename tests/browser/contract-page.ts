/**
 * The page of the browser contract suite: real drivers (IndexedDB, broadcastStore, the lease,
 * Web Locks) created in this tab and driven from Node through `window.contract`, one call per
 * port method. Results cross as JSON; errors as their fields (an authchart error keeps its
 * code, kind and reason, and is recognised again in Node as `isAuthchartError` recognises an
 * error from another realm). Notifications go back through the bindings `contractNotify`
 * (a store's subscribe) and `contractLost` (a handle's signal).
 */
import { broadcastStore, indexedDbStore, leaseLock, webLocksLock } from '../../adapters/cross-tab/index.js';
import type { LockHandle, RefreshLock, TokenSet, TokenStore } from '../../adapters/index.js';

export interface WireError {
  name: string;
  message: string;
  code?: string;
  kind?: string;
  reason?: string;
}

export type AcquireOutcome = { ok: true; handle: string; signal: boolean } | { ok: false; aborted: boolean; error?: WireError };

declare global {
  interface Window {
    contract: typeof contract;
    contractNotify(subscription: string): void;
    contractLost(handle: string, reason: WireError): void;
  }
}

function wire(error: unknown): WireError {
  const e = error as Partial<WireError> | null;
  return { name: String(e?.name ?? 'Error'), message: String(e?.message ?? error), code: e?.code, kind: e?.kind, reason: e?.reason };
}

const stores = new Map<string, TokenStore>();
const locks = new Map<string, RefreshLock>();
const handles = new Map<string, LockHandle>();
const waits = new Map<string, AbortController>();
const subscriptions = new Map<string, () => void>();
let handleCount = 0;

const contract = {
  makeStore(id: string, kind: 'indexeddb' | 'broadcast', options: { database: string; key?: string; channel: string }) {
    const inner = indexedDbStore({ database: options.database, key: options.key });
    stores.set(id, kind === 'broadcast' ? broadcastStore(inner, { channel: options.channel }) : inner);
  },
  async store(id: string, op: 'get' | 'set' | 'clear', tokens?: TokenSet, setOptions?: { expectedVersion?: number }) {
    const store = stores.get(id)!;
    if (op === 'get') return store.get();
    if (op === 'set') return store.set(tokens!, setOptions);
    await store.clear();
    return null;
  },
  subscribe(id: string, subscription: string) {
    const unsubscribe = stores.get(id)!.subscribe?.(() => window.contractNotify(subscription));
    if (!unsubscribe) return false;
    subscriptions.set(subscription, unsubscribe);
    return true;
  },
  unsubscribe(subscription: string) {
    subscriptions.get(subscription)?.();
    subscriptions.delete(subscription);
  },
  makeLock(id: string, kind: 'web-locks' | 'lease', options: { name: string; database: string; maxHoldMs: number }) {
    locks.set(
      id,
      kind === 'web-locks'
        ? webLocksLock({ name: options.name, maxHoldMs: options.maxHoldMs })
        : leaseLock({ database: options.database, name: options.name, maxHoldMs: options.maxHoldMs }),
    );
  },
  async acquire(id: string, call: string, timeoutMs: number, alreadyAborted: boolean): Promise<AcquireOutcome> {
    const controller = new AbortController();
    if (alreadyAborted) controller.abort(new Error('aborted before the call'));
    waits.set(call, controller);
    try {
      const handle = await locks.get(id)!.acquire({ signal: controller.signal, timeoutMs });
      const name = `handle-${++handleCount}`;
      handles.set(name, handle);
      handle.signal?.addEventListener('abort', () => window.contractLost(name, wire(handle.signal!.reason)), { once: true });
      return { ok: true, handle: name, signal: handle.signal !== undefined };
    } catch (error) {
      return { ok: false, aborted: controller.signal.aborted && error === controller.signal.reason, error: wire(error) };
    } finally {
      waits.delete(call);
    }
  },
  abort(call: string) {
    waits.get(call)?.abort(new Error('aborted by the caller'));
  },
  async release(handle: string) {
    await handles.get(handle)!.release();
  },
};

window.contract = contract;
