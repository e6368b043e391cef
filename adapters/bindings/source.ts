/**
 * What the integrations accept as "the session": a session from `createSession`, or a
 * front end that carries one (`createAuthFetch(…)`, `attachAuth(…)`), so an app passes
 * whichever it already has.
 */
import type { Session } from '../core/session.js';

/** A session, or a front end made from one (it has a `session` property). */
export type SessionSource = Session | { readonly session: Session };

/** The session behind `source`. */
export function sessionOf(source: SessionSource): Session {
  return 'actor' in source ? source : source.session;
}
