/**
 * Shared pieces of the React suites: a widget that loads through `useAuthFetch`, a count
 * of the statechart actors sessions start, and a way to let time pass inside `act`.
 */
import { act } from '@testing-library/react';
import { useEffect, useState } from 'react';
import { vi } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { isAuthchartError } from '../../adapters/index.js';
import { useAuthFetch } from '../../adapters/react/index.js';

/** Advance fake time (and settle promises) inside `act`, so React applies the updates. */
export async function advance(ms: number): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

/**
 * Counts the root statechart actors started by the sessions it is passed to (as their
 * `inspect` option); invoked refresh actors are not counted.
 */
export function actorCounter() {
  const roots = new Set<string>();
  return {
    inspect: (event: InspectionEvent) => {
      if (event.type === '@xstate.actor' && event.actorRef.sessionId === event.rootId) roots.add(event.rootId);
    },
    get count() {
      return roots.size;
    },
  };
}

/** A dashboard widget: loads `url` once on mount through the provider's fetch. */
export function Widget({ url, name }: { url: string; name: string }) {
  const authFetch = useAuthFetch();
  const [text, setText] = useState('loading');
  useEffect(() => {
    let live = true;
    authFetch(url)
      .then((response) => response.json() as Promise<{ path: string }>)
      .then(
        (body) => live && setText(`ok ${body.path}`),
        (error: unknown) => live && setText(`error ${isAuthchartError(error) ? error.code : String(error)}`),
      );
    return () => {
      live = false;
    };
  }, [authFetch, url]);
  return <p data-testid={name}>{text}</p>;
}
