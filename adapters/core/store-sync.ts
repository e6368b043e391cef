/**
 * A session and its store after the start: the initial load, and following what other tabs
 * and instances write (R9: through the one statechart, never around it).
 */
import type { MachinePort } from './session-machine.js';
import type { StoredTokens, TokenSet, TokenStore } from './ports.js';
import type { TokenHolder } from './token-holder.js';

export interface StoreSyncDeps {
  holder: TokenHolder;
  store: TokenStore;
  machine: MachinePort;
  disposed: () => boolean;
}

/** Hold a record another tab or instance wrote (or clear, if it is gone), through the statechart. */
export function adoptRecord({ holder, machine }: Pick<StoreSyncDeps, 'holder' | 'machine'>, record: StoredTokens | null): void {
  const loggedOut = machine.hasTag('loggedOut');
  if (!record) {
    if (holder.tokens && !loggedOut) machine.send({ type: 'LOGOUT', reason: 'remote' });
    return;
  }
  // What the store holds is the session's now: a write it still owed is done (this is it,
  // landed late) or obsolete (built on by another tab or instance), never to be retried over it.
  holder.discardOwedWrite();
  if (holder.holds(record)) {
    holder.keep(record);
    return;
  }
  const facts = holder.hold(record);
  machine.send(loggedOut ? { type: 'LOGIN', ...facts } : { type: 'TOKENS_UPDATED', ...facts });
}

/** Follow the store's change notifications. Returns how to stop. */
export function followStore(deps: StoreSyncDeps): (() => void) | undefined {
  const { holder, store, disposed } = deps;
  const changed = async (): Promise<void> => {
    if (disposed()) return;
    // Heard while a write of ours is under way: maybe its echo, maybe another tab's change
    // (a logout that landed just after our write). Look again once our writes are done.
    if (holder.writing) return holder.afterWrites(recheck);
    const mark = holder.writeMark;
    const record = await holder.read();
    if (disposed()) return;
    // A write of ours (a login, a logout's clear) started while this read was on its way:
    // what it read may predate ours. Read again once our writes are done.
    if (holder.writeMark !== mark || holder.writing) return holder.afterWrites(recheck);
    // While a write of ours is owed, only a record newer than what it replaces wins.
    if (record && !holder.supersedes(record)) return;
    adoptRecord(deps, record);
  };
  const recheck = () => void changed().catch(() => undefined);
  return store.subscribe?.(recheck);
}

/**
 * Start from the given tokens, or from what the store holds. Resolves (or returns
 * synchronously, for a synchronous store) once the statechart has them. A store that cannot be
 * read now (down, or slower than `storeTimeoutMs`) is not "no session": the session stays
 * idle without tokens, so the first request starts a refresh whose double-check reads the
 * store again (and backs off while it is still unreachable) instead of logging out for good.
 */
export function loadInitial(deps: StoreSyncDeps, tokens: TokenSet | undefined): Promise<void> | undefined {
  const { holder, machine, disposed } = deps;
  const begin = (record: StoredTokens | null) => {
    if (disposed()) return;
    if (record) machine.send({ type: 'TOKENS_UPDATED', ...holder.hold(record) });
    else machine.send({ type: 'LOGOUT', reason: 'noSession' });
  };
  if (tokens) {
    const given = holder.withExpiry(tokens);
    const refused = () => {
      // The store refused the first tokens: use them from memory, write them later.
      if (disposed()) return;
      const facts = holder.holdUnsaved(given, undefined);
      if (facts) machine.send({ type: 'TOKENS_UPDATED', ...facts });
    };
    let written: StoredTokens | null | Promise<StoredTokens | null>;
    try {
      written = holder.writeFirst(given);
    } catch {
      refused();
      return undefined;
    }
    if (!(written instanceof Promise)) {
      begin(written);
      return undefined;
    }
    return written.then(begin, refused);
  }
  let first: StoredTokens | null | Promise<StoredTokens | null>;
  try {
    first = holder.read();
  } catch {
    return undefined;
  }
  if (!(first instanceof Promise)) {
    begin(first);
    return undefined;
  }
  return first.then(begin, () => undefined);
}
