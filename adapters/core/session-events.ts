/**
 * What the statechart emits, acted on: waiting requests released or rejected, the store
 * cleared at a logout, and the session's events and log — the machine decides, this obeys.
 */
import type { Actor } from 'xstate';
import { selectState, type RefreshEmitted, type RefreshMachine } from '../../machines/refresh.machine.js';
import { RefreshUnavailableError, SessionExpiredError, type RefreshError } from './errors.js';
import type { SessionEmitter } from './observers.js';
import type { MachinePort } from './session-machine.js';
import type { DPoPKeyStore } from './ports.js';
import type { SessionStatusReport } from './session-types.js';
import { adoptRecord } from './store-sync.js';
import type { TokenHolder } from './token-holder.js';
import type { Waiters } from './waiters.js';

/** What the session remembers of its refreshes, for `getStatus()` and errors. */
export interface RefreshRecord {
  startedAt: number;
  last: SessionStatusReport['lastRefresh'];
  /** The full error of the last failure (cause included), for `refreshFailed` and as the cause of queue rejections. */
  lastError: RefreshError | null;
}

export interface RoutingDeps {
  actor: Actor<RefreshMachine>;
  /** The session's statechart, as the store following sees it (the actor's own, once it runs). */
  machine: MachinePort;
  holder: TokenHolder;
  waiters: Waiters;
  events: SessionEmitter;
  refreshes: RefreshRecord;
  now: () => number;
  /** The session's DPoP keys: forgotten when the session ends for good. */
  dpop?: DPoPKeyStore;
}

/** What waiting requests are settled with: the token held now, or the session is gone. */
function currentOutcome(holder: TokenHolder): Parameters<Waiters['settleAll']>[0] {
  const credential = holder.credential();
  return credential ? { credential } : { error: new SessionExpiredError() };
}

/** Act on every event the machine emits. Returns nothing to stop: it lives as long as the actor. */
export function routeEmitted(deps: RoutingDeps): void {
  const { actor, holder, waiters, events, refreshes, now, dpop } = deps;
  actor.on('*', (emitted: RefreshEmitted) => {
    switch (emitted.type) {
      case 'request.replay':
        waiters.settle(emitted.requestId, currentOutcome(holder));
        break;
      case 'request.reject':
        waiters.settle(emitted.requestId, { error: new SessionExpiredError() });
        break;
      case 'queue.release':
        events.log({ type: 'queue.released', count: waiters.settleAll(currentOutcome(holder)) });
        break;
      case 'queue.reject': {
        const cause = refreshes.lastError ?? undefined;
        const error = emitted.code === 'SESSION_EXPIRED' ? new SessionExpiredError(undefined, { cause }) : new RefreshUnavailableError({ cause });
        events.log({ type: 'queue.rejected', code: emitted.code, count: waiters.settleAll({ error }) });
        break;
      }
      case 'refreshed': {
        const durationMs = now() - refreshes.startedAt;
        refreshes.last = { at: now(), outcome: 'ok', source: emitted.source, durationMs };
        refreshes.lastError = null;
        events.log({ type: 'refresh.done', source: emitted.source, durationMs });
        events.emit('refreshed', {
          tokenVersion: emitted.tokenVersion,
          source: emitted.source,
          trigger: emitted.trigger,
          expiresAt: holder.tokens?.expiresAt ?? null,
        });
        break;
      }
      case 'refreshFailed': {
        const { failure, attempt, willRetry } = emitted;
        refreshes.last = { at: now(), outcome: failure.kind, durationMs: now() - refreshes.startedAt };
        events.log({ type: 'refresh.failed', kind: failure.kind, code: failure.code, reason: failure.reason, status: failure.status, willRetry });
        events.emit('refreshFailed', { error: refreshes.lastError, failure, attempt, willRetry });
        break;
      }
      case 'loggedOut': {
        const failedWith = holder.tokens;
        const newerThanOwed = holder.supersedesOwedWrite();
        holder.drop();
        // A session that gave up (permanent failures, no refresh token) clears the store only
        // if it still holds what failed: another tab or instance may have rotated meanwhile,
        // and its fresh tokens must not be wiped by the loser of that race. A record older
        // than a write this session still owed is not theirs: it is what this session
        // rotated away itself, and it is cleared too.
        if (emitted.reason === 'permanentFailures' || emitted.reason === 'noRefreshToken') {
          void holder
            .serial(async () => {
              const stored = await holder.read();
              if (
                stored &&
                failedWith &&
                newerThanOwed(stored) &&
                (stored.accessToken !== failedWith.accessToken || stored.refreshToken !== failedWith.refreshToken)
              ) {
                adoptRecord(deps, stored);
              } else if (stored) {
                await holder.clear();
              }
            })
            .catch(() => undefined);
        }
        // The key the ended session's tokens were bound to is of no further use (not when
        // another tab or instance ended it, or there never was a session here).
        if (dpop && emitted.reason !== 'noSession' && emitted.reason !== 'remote') void holder.serial(() => dpop.clear()).catch(() => undefined);
        events.log({ type: 'loggedOut', reason: emitted.reason });
        events.emit('loggedOut', { reason: emitted.reason });
        break;
      }
    }
  });
  if (events.logging) {
    let previous = 'idle';
    actor.subscribe((snapshot) => {
      const state = selectState(snapshot);
      if (state !== previous) events.log({ type: 'state', from: previous, to: state, queued: waiters.size });
      previous = state;
    });
  }
}
