/**
 * One session per key for the whole page, kept on `globalThis` so that it survives what
 * re-runs module code: React Strict Mode calling render twice, and hot module reload
 * re-executing the module that creates the session. A session starts its actor (and its
 * proactive timer) when it is created, so a second one would refresh on its own.
 */

const REGISTRY = Symbol.for('authchart.sharedSessions');

interface Disposable {
  dispose(): Promise<void>;
}

function registry(): Map<string, Disposable> {
  const host = globalThis as typeof globalThis & { [REGISTRY]?: Map<string, Disposable> };
  host[REGISTRY] ??= new Map();
  return host[REGISTRY];
}

/**
 * The session (or `createAuthFetch` front end) registered under `key`, created by `create`
 * the first time only. Later calls, from a re-executed module after a hot reload or from a
 * render that Strict Mode repeats, get the same instance and never call `create` again, so
 * there is one actor and one refresh per expiry. Changed options reach the page after a
 * full reload (or after {@link disposeSharedSession}).
 * @example
 * // auth.ts
 * export const authFetch = sharedSession('app', () =>
 *   createAuthFetch({ refresh: oauthRefresher({ tokenEndpoint, clientId: 'web' }), allowedOrigins: [api] }),
 * )
 */
export function sharedSession<T extends Disposable>(key: string, create: () => T): T {
  const sessions = registry();
  const existing = sessions.get(key);
  if (existing) return existing as T;
  const created = create();
  sessions.set(key, created);
  return created;
}

/**
 * Dispose the session registered under `key` and forget it; the next
 * {@link sharedSession} call with that key creates a new one. Nothing happens for an
 * unknown key.
 * @example
 * import.meta.hot?.dispose(() => disposeSharedSession('app')) // opt in: a new session (and sign-in) on every edit
 */
export async function disposeSharedSession(key: string): Promise<void> {
  const sessions = registry();
  const existing = sessions.get(key);
  if (!existing) return;
  sessions.delete(key);
  await existing.dispose();
}
