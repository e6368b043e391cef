/**
 * `authchart/machine`: the statechart itself — for diagrams, the Stately inspector, your own
 * adapters and `@xstate/react` selectors over `session.actor`. It imports only `xstate`.
 */
export {
  refreshMachine,
  defaultRefreshOptions,
  toRefreshFailure,
  selectState,
  selectSessionStatus,
  selectIsWaiting,
  selectIsLoggedOut,
  selectTokenVersion,
  selectQueued,
} from '../../machines/refresh.machine.js';
export type {
  RefreshMachine,
  RefreshSnapshot,
  RefreshContext,
  RefreshEvent,
  RefreshEmitted,
  RefreshFailure,
  RefreshMachineOptions,
  RefreshMachineInput,
  RefreshSuccess,
  RefreshInput,
  RefreshTrigger,
  FailureKind,
  LoggedOutReason,
  QueueRejectCode,
  SessionStatus,
} from '../../machines/refresh.machine.js';
