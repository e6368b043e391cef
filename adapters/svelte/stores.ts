import { getContext, onDestroy, setContext } from 'svelte';
import { createSubscriber } from 'svelte/reactivity';
import { selectSessionStatus, selectState, type RefreshSnapshot, type SessionStatus } from '../../machines/refresh.machine.js';
import { InvalidOptionsError } from '../core/errors.js';
import type { Session } from '../core/session.js';
import type { AuthFetch } from '../fetch/auth-fetch.js';
import { sessionOf, type SessionSource } from '../bindings/source.js';
import { watchLoggedOut, type LoggedOutOptions } from '../bindings/logged-out.js';

/**
 * A value read from the session: a Svelte store (`$status` in a component, `fromStore`,
 * `derived`) and a rune-friendly `current` (reactive in `$derived`, `$effect` and markup,
 * like `MediaQuery.current`).
 */
export interface AuthReadable<T> {
  /** Svelte's store contract: called at once with the value, then on every change. */
  subscribe(run: (value: T) => void): () => void;
  /** The value now; read inside a reactive context, it re-runs when the value changes. */
  readonly current: T;
}

/**
 * A readable of a value selected from the session's statechart; subscribers are told only
 * when the selected value changes (`compare`). Use the selectors exported by `authchart`
 * (`selectState`, `selectIsWaiting`, `selectQueued`, …).
 * @default compare: Object.is
 * @example
 * const queued = authSelector(authFetch, selectQueued)
 * // {#if $queued > 0}<Spinner />{/if}   or   {queued.current}
 */
export function authSelector<T>(
  source: SessionSource,
  selector: (snapshot: RefreshSnapshot) => T,
  compare: (a: T, b: T) => boolean = Object.is,
): AuthReadable<T> {
  const { actor } = sessionOf(source);
  const watch = (changed: (value: T) => void) => {
    let value = selector(actor.getSnapshot());
    const subscription = actor.subscribe((snapshot) => {
      const next = selector(snapshot);
      if (compare(value, next)) return;
      value = next;
      changed(next);
    });
    return () => subscription.unsubscribe();
  };
  // Created lazily: createSubscriber ties its listener to the reactive context that reads `current`.
  let track: (() => void) | undefined;
  return {
    subscribe(run) {
      run(selector(actor.getSnapshot()));
      return watch(run);
    },
    get current() {
      track ??= createSubscriber((update) => watch(() => update()));
      track();
      return selector(actor.getSnapshot());
    },
  };
}

/**
 * `authenticated`, `refreshing` (requests wait for a refresh) or `loggedOut`.
 * @example
 * const status = authStatus(authFetch)
 * // {#if $status === 'refreshing'}<Spinner />{/if}
 */
export function authStatus(source: SessionSource): AuthReadable<SessionStatus> {
  return authSelector(source, selectSessionStatus);
}

/**
 * The statechart's state: `idle`, `debouncing`, `refreshing`, `backoff` or `loggedOut`.
 * @example
 * const state = authState(authFetch)
 */
export function authState(source: SessionSource): AuthReadable<ReturnType<typeof selectState>> {
  return authSelector(source, selectState);
}

interface Provided {
  session: Session;
  authFetch: AuthFetch | null;
}

const KEY = Symbol.for('authchart.svelte');

function isAuthFetch(source: SessionSource): source is AuthFetch {
  return typeof source === 'function' && 'session' in source;
}

/**
 * Give the components below the one shared session (Svelte context), and send the user to
 * sign in once when it ends (`onLoggedOut`, never on the sign-in page itself). Call it in
 * the root component's (or root layout's) `<script>`; it stops watching when that component
 * is destroyed. Create the session itself outside components, once: it starts refreshing
 * when it is created.
 * @example
 * <script>
 *   import { goto } from '$app/navigation'
 *   import { page } from '$app/state'
 *   import { setAuthContext } from 'authchart/svelte'
 *   import { authFetch } from '$lib/auth'
 *   setAuthContext(authFetch, { onLoggedOut: () => goto('/login'), isLoginPage: () => page.url.pathname === '/login' })
 * </script>
 */
export function setAuthContext(source: SessionSource, options: LoggedOutOptions = {}): void {
  const provided: Provided = isAuthFetch(source) ? { session: source.session, authFetch: source } : { session: sessionOf(source), authFetch: null };
  setContext(KEY, provided);
  onDestroy(watchLoggedOut(provided.session, options));
}

function provided(name: string): Provided {
  const value = getContext<Provided | undefined>(KEY);
  if (!value)
    throw new InvalidOptionsError(`${name}() needs setAuthContext(session) in a parent component and must be called during component initialisation.`);
  return value;
}

/**
 * The session given to {@link setAuthContext}.
 * @example
 * const session = getSession()
 */
export function getSession(): Session {
  return provided('getSession').session;
}

/**
 * The fetch given to {@link setAuthContext} (`createAuthFetch`): attaches the token to
 * allowed origins, shares one refresh on 401, replays once.
 * @example
 * const authFetch = getAuthFetch()
 * let me = $state(null)
 * onMount(async () => { me = await authFetch('/api/me').then((r) => r.json()) })
 */
export function getAuthFetch(): AuthFetch {
  const { authFetch } = provided('getAuthFetch');
  if (!authFetch) throw new InvalidOptionsError('getAuthFetch() needs setAuthContext(createAuthFetch(…)); it was given a session without fetch.');
  return authFetch;
}

/**
 * Call `onLoggedOut` once per logged-out spell, outside components (a SvelteKit `hooks.client`
 * file, a store module). Returns how to stop.
 * @example
 * onLoggedOut(authFetch, { onLoggedOut: () => goto('/login'), isLoginPage: () => location.pathname === '/login' })
 */
export function onLoggedOut(source: SessionSource, options: LoggedOutOptions): () => void {
  return watchLoggedOut(sessionOf(source), options);
}
