/**
 * An idle session is facts until its statechart is needed: no actor while nothing has used it
 * (most of an idle session's heap), and, once one is needed, the actor it starts is in the
 * state and context the statechart would have reached event by event (as a session with an
 * inspector, whose actor runs from the start, shows).
 */
import { describe, expect, it } from 'vitest';
import type { Actor } from 'xstate';
import type { RefreshEvent, RefreshMachine } from '../../machines/refresh.machine.js';
import { sessionDefaults } from '../../adapters/core/options.js';
import { createSession } from '../../adapters/core/session.js';
import { SessionMachine } from '../../adapters/core/session-machine.js';

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;
const now = () => NOW;

/** A statechart as a session makes it: lazy without an inspector, running from the start with one. */
function machine(options: { inspect?: boolean; keepAlive?: boolean } = {}) {
  const started: Actor<RefreshMachine>[] = [];
  const m = new SessionMachine(
    {
      options: { ...sessionDefaults, keepAlive: options.keepAlive ?? false },
      now,
      refresh: () => new Promise(() => undefined),
      inspect: options.inspect ? () => undefined : undefined,
    },
    (actor) => started.push(actor),
  );
  return { m, started };
}

const tokens = (tokenVersion: number): RefreshEvent => ({ type: 'TOKENS_UPDATED', tokenVersion, expiresAt: NOW + HOUR, refreshAt: NOW + HOUR - 30_000 });

describe('SessionMachine: the statechart of an idle session', () => {
  it('makes no actor for the events an idle session gets (tokens from the store, wakes), yet reports them', () => {
    const { m, started } = machine();
    m.send(tokens(1));
    m.send({ type: 'WAKE' });
    m.send(tokens(2));
    expect(started).toHaveLength(0);
    expect(m.hasTag('loggedOut')).toBe(false);
    expect(m.hasTag('waiting')).toBe(false);
    const eager = machine({ inspect: true });
    expect(eager.started).toHaveLength(1);
    eager.m.send(tokens(1));
    eager.m.send({ type: 'WAKE' });
    eager.m.send(tokens(2));
    expect(m.report()).toEqual(eager.m.report());
    expect(m.report()).toMatchObject({ state: 'idle', status: 'authenticated', tokenVersion: 2, expiresAt: NOW + HOUR });
  });

  it('starts the actor on the first look at it, in the state and context the statechart reached', () => {
    const { m, started } = machine();
    const eager = machine({ inspect: true });
    for (const event of [tokens(1), { type: 'WAKE' } as const, tokens(3)]) {
      m.send(event);
      eager.m.send(event);
    }
    const actor = m.actor;
    expect(started).toEqual([actor]);
    expect(m.actor).toBe(actor);
    expect(actor.getSnapshot().value).toBe('idle');
    expect(actor.getSnapshot().context).toEqual(eager.m.actor.getSnapshot().context);
  });

  it('starts the actor for every other event, and hands it the event', () => {
    const events: RefreshEvent[] = [
      { type: 'TOKEN_USED' },
      { type: 'REFRESH', requestId: 'w1' },
      { type: 'UNAUTHORIZED', tokenVersion: 1, requestId: 'w1' },
      { type: 'LOGIN', tokenVersion: 2, expiresAt: null, refreshAt: null },
      { type: 'LOGOUT', reason: 'logout' },
    ];
    for (const event of events) {
      const { m, started } = machine();
      const eager = machine({ inspect: true });
      m.send(tokens(1));
      eager.m.send(tokens(1));
      m.send(event);
      eager.m.send(event);
      expect(started, event.type).toHaveLength(1);
      expect(m.report(), event.type).toEqual(eager.m.report());
      expect(m.actor.getSnapshot().value, event.type).toEqual(eager.m.actor.getSnapshot().value);
      expect(m.actor.getSnapshot().context, event.type).toEqual(eager.m.actor.getSnapshot().context);
      eager.m.stop();
      m.stop();
    }
  });

  it('runs the actor from the start with keepAlive (its proactive timer runs while nothing is in use)', () => {
    const { started } = machine({ keepAlive: true });
    expect(started).toHaveLength(1);
  });

  it('after stop(), ignores events and hands out a stopped actor', () => {
    const { m, started } = machine();
    m.send(tokens(1));
    m.stop();
    m.send({ type: 'LOGOUT', reason: 'logout' });
    expect(started).toHaveLength(0);
    expect(m.actor.getSnapshot().status).toBe('stopped');
    expect(m.actor.getSnapshot().context.tokenVersion).toBe(1);
  });
});

describe('createSession: an idle session answers from facts', () => {
  const make = (inspect: boolean) =>
    createSession({
      refresh: async () => ({ accessToken: 'next' }),
      tokens: { accessToken: 'valid', refreshToken: 'r1', expiresAt: NOW + HOUR },
      now,
      wakeEvents: false,
      ...(inspect ? { inspect: () => undefined } : {}),
    });

  it('reports the same status as a session whose actor runs from the start, through a load, a push and a use', async () => {
    const lazy = make(false);
    const eager = make(true);
    expect(lazy.getStatus()).toEqual(eager.getStatus());
    expect(lazy.getStatus()).toMatchObject({ state: 'idle', status: 'authenticated', tokenVersion: 1, expiresAt: NOW + HOUR, hasRefreshToken: true });
    await lazy.updateTokens({ accessToken: 'pushed', expiresAt: NOW + 2 * HOUR });
    await eager.updateTokens({ accessToken: 'pushed', expiresAt: NOW + 2 * HOUR });
    expect(lazy.getStatus()).toEqual(eager.getStatus());
    expect(lazy.getStatus().tokenVersion).toBe(2);
    expect(await lazy.getAccessToken()).toBe('pushed');
    expect(await eager.getAccessToken()).toBe('pushed');
    expect(lazy.getStatus()).toEqual(eager.getStatus());
    expect(lazy.actor.getSnapshot().context).toEqual(eager.actor.getSnapshot().context);
    expect(lazy.actor.getSnapshot().context.inUse).toBe(true);
    await lazy.dispose();
    await eager.dispose();
    expect(lazy.actor.getSnapshot().status).toBe('stopped');
  });

  it('signs out from facts: logout() starts the statechart, which announces it', async () => {
    const lazy = make(false);
    const reasons: string[] = [];
    lazy.on('loggedOut', (e) => reasons.push(e.reason));
    await lazy.logout();
    expect(reasons).toEqual(['logout']);
    expect(lazy.getStatus()).toMatchObject({ state: 'loggedOut', status: 'loggedOut', loggedOutReason: 'logout' });
    await expect(lazy.getAccessToken()).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
    await lazy.dispose();
  });
});
