import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { describe, expect, it, vi } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { ErrorCode, isAuthchartError } from '../../adapters/index.js';
import { issuedSecrets } from '../../adapters/testing/index.js';
import { createHarness, track, useMockNetwork } from '../support/harness.js';
import { leakedSecrets, reachableStrings } from '../support/strings.js';

useMockNetwork();

describe('an attached inspector never receives a token', () => {
  it('herd → one refresh → transient and permanent failures → logout → login: no token in any inspection event', async () => {
    const raw: InspectionEvent[] = [];
    const wire: StatelyInspectionEvent[] = [];
    // What @statelyai/inspect's browser or WebSocket inspector would send, captured before it leaves.
    const inspector = createInspector({ send: (event) => void wire.push(event) });
    const { server, authFetch, api } = await createHarness({
      client: {
        inspect: (event) => {
          raw.push(event);
          inspector.inspect.next?.(event);
        },
      },
    });

    // The herd: 20 requests on an expired token, one refresh.
    server.expireAccessTokens();
    const herd = Array.from({ length: 20 }, (_, i) => track(authFetch(api(`/herd/${i}`))));
    await vi.advanceTimersByTimeAsync(300);
    expect(herd.every((r) => (r.value as Response | undefined)?.status === 200)).toBe(true);
    expect(server.stats.refreshCalls).toBe(1);

    // The server fails: transient, then three permanent failures end the session.
    server.expireAccessTokens();
    server.fault({ type: 'unavailable', retryAfterSeconds: 1 }, { type: 'invalidGrant' }, { type: 'invalidGrant' }, { type: 'invalidGrant' });
    const doomed = track(authFetch(api('/doomed')));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(isAuthchartError(doomed.error, ErrorCode.SESSION_EXPIRED)).toBe(true);
    expect(authFetch.getStatus()).toMatchObject({ state: 'loggedOut', loggedOutReason: 'permanentFailures' });

    // Sign in again, use it, sign out.
    const fresh = server.login();
    await authFetch.login({ accessToken: fresh.access_token, refreshToken: fresh.refresh_token, expiresAt: Date.now() + 60_000 });
    expect((await authFetch(api('/again'))).status).toBe(200);
    await authFetch.refresh();
    await authFetch.logout();
    await vi.advanceTimersByTimeAsync(0);

    const secrets = issuedSecrets().filter((s) => !s.startsWith('fam_'));
    expect(secrets.length).toBeGreaterThanOrEqual(6);
    expect(raw.length).toBeGreaterThan(50);
    expect(wire.length).toBeGreaterThan(50);
    // Everything reachable from the events (snapshots, actor refs, the system, errors), and the JSON the inspector sends.
    const reachable = reachableStrings([raw, wire]);
    expect(leakedSecrets(reachable, secrets)).toEqual([]);
    const json = wire.map((event) => JSON.stringify(event, cycleSafe()));
    expect(leakedSecrets(json, secrets)).toEqual([]);
    await authFetch.dispose();
  });

  it('an @statelyai/inspect inspector plugs in as it is (its inspect is an observer)', async () => {
    const wire: StatelyInspectionEvent[] = [];
    const inspector = createInspector({ send: (event) => void wire.push(event) });
    const { server, authFetch, api } = await createHarness({ client: { inspect: inspector.inspect } });
    server.expireAccessTokens();
    const request = track(authFetch(api('/observed')));
    await vi.advanceTimersByTimeAsync(200);
    expect((request.value as Response).status).toBe(200);
    const states = wire.filter((e) => e.type === '@xstate.snapshot').map((e) => (e.snapshot as { value?: unknown }).value);
    expect(states).toEqual(expect.arrayContaining(['debouncing', 'refreshing', 'idle']));
    await authFetch.dispose();
  });

  it('the leak check finds a token wherever it hides (nested, in a Map, behind a cycle, in an error cause)', () => {
    const secret = 'at_0123456789abcdef';
    const cyclic: Record<string, unknown> = { name: 'event' };
    cyclic.self = cyclic;
    const hiding = [
      { snapshot: { context: { deep: [{ value: `Bearer ${secret}` }] } } },
      new Map([['k', { v: secret }]]),
      Object.assign(cyclic, { later: { token: secret } }),
      new Error('refresh failed', { cause: { body: { access_token: secret } } }),
    ];
    for (const value of hiding) expect(leakedSecrets(reachableStrings(value), [secret])).toEqual([secret]);
    expect(leakedSecrets(reachableStrings({ safe: 'nothing here' }), [secret])).toEqual([]);
  });
});

/** A JSON.stringify replacer that writes each object once (the events hold cycles). */
function cycleSafe() {
  const seen = new WeakSet<object>();
  return (_key: string, value: unknown) => {
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[cycle]';
      seen.add(value);
    }
    return value;
  };
}
