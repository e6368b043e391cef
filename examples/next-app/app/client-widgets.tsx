'use client';

import { useRouter } from 'next/navigation';
import { useCallback, useEffect, useRef, useState, useTransition } from 'react';

type Result = { status: number; ok: boolean };
type Round = { round: number; results: Record<string, Result> };

/**
 * The browser's side: each widget asks a route handler and the backend-for-frontend at
 * once, and "Reload everything" also re-renders the Server Components (router.refresh),
 * all in parallel with the same cookie.
 */
export function ClientWidgets({ names }: { names: readonly string[] }) {
  const router = useRouter();
  const [, startTransition] = useTransition();
  const [round, setRound] = useState<Round>({ round: 0, results: {} });

  const load = useCallback(
    async (refreshServer: boolean) => {
      const calls = names.flatMap((name) => [
        [`route ${name}`, `/api/widgets/${name}`],
        [`bff ${name}`, `/api/bff/widgets/${name}`],
      ]);
      if (refreshServer) startTransition(() => router.refresh());
      const settled = await Promise.all(
        calls.map(async ([label, url]) => {
          try {
            const response = await fetch(url!, { cache: 'no-store' });
            return [label!, { status: response.status, ok: response.ok }] as const;
          } catch {
            return [label!, { status: 0, ok: false }] as const;
          }
        }),
      );
      setRound((previous) => ({ round: previous.round + 1, results: Object.fromEntries(settled) }));
    },
    [names, router],
  );

  // Once, on mount: a refresh re-renders this component with new props, and must not
  // start another round.
  const loaded = useRef(false);
  useEffect(() => {
    if (loaded.current) return;
    loaded.current = true;
    void load(false);
  }, [load]);

  const labels = names.flatMap((name) => [`route ${name}`, `bff ${name}`]);
  const entries = labels.map((label) => [label, round.results[label]] as const);
  return (
    <section className="panel">
      <header>
        <h2>From the browser</h2>
        <button type="button" data-testid="reload-all" onClick={() => void load(true)}>
          Reload everything
        </button>
      </header>
      <ul className="grid" data-testid="client-widgets" data-round={round.round} data-failed={entries.filter(([, r]) => r && !r.ok).length}>
        {entries.map(([label, result]) => {
          const status = !result ? 'loading' : result.ok ? 'ok' : 'error';
          return (
            <li key={label} className={`widget ${status}`} data-testid="client-widget" data-status={status}>
              <span className="name">{label}</span>
              <span className="status">{status === 'ok' ? '●' : status === 'error' ? '✕' : '…'}</span>
              <span className="detail">{result ? `HTTP ${result.status}` : 'loading'}</span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
