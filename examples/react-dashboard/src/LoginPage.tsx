import { useState } from 'react';
import { signIn } from './auth';
import { Badge } from './Badge';
import { currentQuery, navigate } from './route';

const reasons: Record<string, string> = {
  noSession: 'No session yet.',
  logout: 'You signed out.',
  permanentFailures: 'The token server refused the refresh token three times: the session was revoked.',
  noRefreshToken: 'The session has no refresh token.',
  remote: 'Another tab ended the session.',
};

export function LoginPage() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const reason = currentQuery().get('reason');
  return (
    <main className="login">
      <h1>authchart · React dashboard</h1>
      <Badge />
      {reason && (
        <p className="reason" data-testid="logged-out-reason">
          {reasons[reason] ?? reason}
        </p>
      )}
      <button
        type="button"
        className="primary"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          setError(null);
          signIn().then(
            () => navigate('/'),
            (failure: unknown) => {
              setBusy(false);
              setError(String(failure));
            },
          );
        }}
      >
        Sign in as the demo user
      </button>
      {error && <p className="error">{error}</p>}
    </main>
  );
}
