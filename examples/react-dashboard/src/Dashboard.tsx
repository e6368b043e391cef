import { useAuth, useSession } from 'authchart/react';
import { useEffect, useState } from 'react';
import { Badge } from './Badge';
import { control } from './config';
import { Widget } from './Widget';

const WIDGETS = [
  { name: 'revenue', title: 'Revenue' },
  { name: 'active-users', title: 'Active users' },
  { name: 'orders', title: 'Orders' },
  { name: 'latency', title: 'API latency' },
  { name: 'errors', title: 'Error rate' },
  { name: 'deploys', title: 'Deploys' },
];

interface Stats {
  refreshCalls: number;
  resourceCalls: number;
  resourceUnauthorized: number;
  reuseDetected: number;
  broken: boolean;
}

export function Dashboard() {
  const { logout } = useAuth();
  const [reload, setReload] = useState(0);
  const stats = useTokenServerStats();
  const reloadAll = () => setReload((n) => n + 1);

  return (
    <main className="dashboard">
      <header className="top">
        <h1>authchart · React dashboard</h1>
        <Badge />
      </header>
      <nav className="controls">
        <button type="button" onClick={reloadAll}>
          Reload widgets
        </button>
        <button
          type="button"
          onClick={() => void control('expire').then(reloadAll)}
          title="The token server expires every access token; the widgets reload at once"
        >
          Expire access token
        </button>
        {stats?.broken ? (
          <button type="button" className="warn" onClick={() => void control('repair')}>
            Repair token server
          </button>
        ) : (
          <button type="button" onClick={() => void control('break')} title="Every token call answers 503 until repaired">
            Break token server (503)
          </button>
        )}
        <button
          type="button"
          className="danger"
          onClick={() => void control('revoke').then(reloadAll)}
          title="The token server revokes the session; refreshes fail with invalid_grant"
        >
          Revoke session
        </button>
        <button type="button" onClick={() => void logout()}>
          Sign out
        </button>
      </nav>
      <TokenServerStats stats={stats} />
      <div className="grid">
        {WIDGETS.map((widget) => (
          <Widget key={widget.name} name={widget.name} title={widget.title} reload={reload} />
        ))}
      </div>
      <EventLog />
    </main>
  );
}

/** What the token server saw: the figure that matters is refresh calls per expiry. */
function TokenServerStats({ stats }: { stats: Stats | null }) {
  if (!stats) return <p className="stats">Token server: …</p>;
  return (
    <dl className="stats" data-testid="stats" data-refresh-calls={stats.refreshCalls} data-broken={stats.broken}>
      <div>
        <dt>refresh calls</dt>
        <dd>{stats.refreshCalls}</dd>
      </div>
      <div>
        <dt>API requests answered 401</dt>
        <dd>
          {stats.resourceUnauthorized} <small>of {stats.resourceCalls}</small>
        </dd>
      </div>
      <div>
        <dt>refresh-token reuse detected</dt>
        <dd>{stats.reuseDetected}</dd>
      </div>
      <div>
        <dt>token server</dt>
        <dd className={stats.broken ? 'down' : 'up'}>{stats.broken ? '503' : 'up'}</dd>
      </div>
    </dl>
  );
}

/** The token server's counters, polled from the demo back end. */
function useTokenServerStats(): Stats | null {
  const [stats, setStats] = useState<Stats | null>(null);
  useEffect(() => {
    let live = true;
    const read = () =>
      fetch('/demo/stats')
        .then((response) => response.json() as Promise<Stats>)
        .then(
          (next) => live && setStats(next),
          () => undefined,
        );
    void read();
    const timer = setInterval(read, 500);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);
  return stats;
}

/** Numbers the event log's entries, for their keys. */
let nextEntryId = 0;

/** The session's events, newest first. */
function EventLog() {
  const session = useSession();
  const [entries, setEntries] = useState<{ id: number; at: string; text: string }[]>([]);
  useEffect(() => {
    const add = (text: string) => setEntries((previous) => [{ id: nextEntryId++, at: new Date().toLocaleTimeString(), text }, ...previous].slice(0, 8));
    const off = [
      session.on('refreshed', ({ trigger, source, tokenVersion }) => add(`refreshed (${trigger}, from ${source}) → token v${tokenVersion}`)),
      session.on('refreshFailed', ({ failure, attempt, willRetry }) =>
        add(`refresh failed: ${failure.kind} ${failure.code} (attempt ${attempt}${willRetry ? ', will retry' : ', gave up'})`),
      ),
      session.on('loggedOut', ({ reason }) => add(`logged out (${reason})`)),
    ];
    return () => {
      for (const unsubscribe of off) unsubscribe();
    };
  }, [session]);
  return (
    <section className="log">
      <h2>Session events</h2>
      {entries.length === 0 ? (
        <p className="muted">None yet: press a button.</p>
      ) : (
        <ol>
          {entries.map((entry) => (
            <li key={entry.id}>
              <span className="muted">{entry.at}</span> {entry.text}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
