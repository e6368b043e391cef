import { isAuthchartError } from 'authchart';
import { useAuthFetch } from 'authchart/react';
import { useEffect, useState } from 'react';
import { apiUrl } from './auth';
import { config } from './config';

interface Load {
  status: 'loading' | 'ok' | 'error';
  loads: number;
  detail: string;
  /** Round trips of the last loads, in ms (a 401 and its replay included). */
  timings: number[];
}

/**
 * One dashboard widget: loads its endpoint on mount, every `pollMs`, and whenever
 * `reload` changes, through the provider's fetch. It knows nothing of tokens.
 */
export function Widget({ name, title, reload }: { name: string; title: string; reload: number }) {
  const authFetch = useAuthFetch();
  const [load, setLoad] = useState<Load>({ status: 'loading', loads: 0, detail: '…', timings: [] });

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new `reload` value is what loads the widget again
  useEffect(() => {
    let live = true;
    const fetchOnce = () => {
      const started = performance.now();
      authFetch(apiUrl(`/widgets/${name}`))
        .then(async (response) => {
          const body = (await response.json()) as { method?: string; path?: string };
          return { ok: response.ok, detail: response.ok ? `${response.status} · ${body.method} ${body.path}` : `HTTP ${response.status}` };
        })
        .catch((error: unknown) => ({ ok: false, detail: isAuthchartError(error) ? error.code : 'network error' }))
        .then(({ ok, detail }) => {
          if (!live) return;
          const ms = Math.round(performance.now() - started);
          setLoad((previous) => ({
            status: ok ? 'ok' : 'error',
            loads: ok ? previous.loads + 1 : previous.loads,
            detail,
            timings: [...previous.timings, ms].slice(-16),
          }));
        });
    };
    fetchOnce();
    const poll = setInterval(fetchOnce, config.pollMs);
    return () => {
      live = false;
      clearInterval(poll);
    };
  }, [authFetch, name, reload]);

  const last = load.timings.at(-1);
  return (
    <section className={`widget widget-${load.status}`} data-testid="widget" data-name={name} data-status={load.status} data-loads={load.loads}>
      <header>
        <h2>{title}</h2>
        <span className="pill">{load.status}</span>
      </header>
      <p className="big">
        {load.loads}
        <small> loads</small>
      </p>
      <Sparkline values={load.timings} />
      <p className="detail">
        {load.detail}
        {last !== undefined && <span className="muted"> · {last} ms</span>}
      </p>
    </section>
  );
}

/** Round-trip times of the last loads: a request that waited for the refresh stands out. */
function Sparkline({ values }: { values: number[] }) {
  const width = 160;
  const height = 32;
  if (values.length === 0) return <svg className="spark" width={width} height={height} />;
  const max = Math.max(...values, 20);
  const step = width / Math.max(1, values.length - 1);
  const points = values.map((value, i) => `${(i * step).toFixed(1)},${(height - 2 - (value / max) * (height - 4)).toFixed(1)}`).join(' ');
  return (
    <svg className="spark" width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-label="round-trip times">
      <polyline points={points} fill="none" stroke="currentColor" strokeWidth="2" />
    </svg>
  );
}
