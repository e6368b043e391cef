import { selectQueued, selectState, selectTokenVersion } from 'authchart/machine';
import { useAuthSelector, useAuthStatus } from 'authchart/react';

/** The statechart's live state. Shows state, counters and a token *version*, never a token. */
export function Badge() {
  const state = useAuthSelector(selectState);
  const status = useAuthStatus();
  const queued = useAuthSelector(selectQueued);
  // n of backoff(n); the machine exports no selector for it, so the app reads it itself.
  const attempt = useAuthSelector((snapshot) => snapshot.context.attempt);
  const version = useAuthSelector(selectTokenVersion);
  const label = state === 'backoff' ? `backoff(${attempt})` : state;
  return (
    <div className={`badge badge-${status}`} data-testid="badge" data-state={state} data-status={status}>
      <span className="dot" />
      <strong>{label}</strong>
      <span>{status}</span>
      <span className="muted">token v{version}</span>
      <span className="muted">{queued} waiting</span>
    </div>
  );
}
