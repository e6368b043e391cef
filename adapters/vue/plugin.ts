import { getCurrentScope, inject, onScopeDispose, readonly, shallowRef, type InjectionKey, type Plugin, type Ref } from 'vue';
import { selectSessionStatus, selectState, type RefreshSnapshot, type SessionStatus } from '../../machines/refresh.machine.js';
import { InvalidOptionsError } from '../core/errors.js';
import type { Session } from '../core/session.js';
import type { AuthFetch } from '../fetch/auth-fetch.js';
import { watchLoggedOut, type LoggedOutOptions } from '../bindings/logged-out.js';

interface Provided {
  session: Session;
  authFetch: AuthFetch | null;
}

const KEY: InjectionKey<Provided> = Symbol('authchart');

function isAuthFetch(source: Session | AuthFetch): source is AuthFetch {
  return typeof source === 'function' && 'session' in source;
}

/** Options of {@link createAuthchart}: where to send the user when the session ends. */
export type AuthchartPluginOptions = LoggedOutOptions;

/**
 * A Vue 3 plugin that gives every component of the app the one shared session, and sends
 * the user to sign in once when it ends (`onLoggedOut`, never on the sign-in page itself).
 * Create the session (or `createAuthFetch` front end) outside components, once per app:
 * it starts refreshing when it is created. The plugin never disposes it.
 * @example
 * const authFetch = createAuthFetch({ refresh, allowedOrigins: ['https://api.example.com'] })
 * createApp(App)
 *   .use(router)
 *   .use(createAuthchart(authFetch, {
 *     onLoggedOut: () => router.push('/login'),
 *     isLoginPage: () => router.currentRoute.value.path === '/login',
 *   }))
 *   .mount('#app')
 */
export function createAuthchart(source: Session | AuthFetch, options: AuthchartPluginOptions = {}): Plugin {
  const provided: Provided = isAuthFetch(source) ? { session: source.session, authFetch: source } : { session: source, authFetch: null };
  return {
    install(app) {
      app.provide(KEY, provided);
      const stop = watchLoggedOut(provided.session, options);
      // Vue 3.5+: stop watching when the app unmounts.
      (app as { onUnmount?: (cleanup: () => void) => void }).onUnmount?.(stop);
    },
  };
}

function provided(composable: string): Provided {
  const value = inject(KEY, null);
  if (!value) throw new InvalidOptionsError(`${composable}() needs app.use(createAuthchart(session)) and must be called in setup().`);
  return value;
}

/**
 * The session given to {@link createAuthchart}.
 * @example
 * const session = useSession()
 * onMounted(() => session.on('refreshFailed', ({ failure }) => toast(failure.code)))
 */
export function useSession(): Session {
  return provided('useSession').session;
}

/**
 * The `createAuthchart` front end's fetch: attaches the token to allowed origins, shares
 * one refresh on 401, replays once. Throws when the plugin was given a bare session.
 * @example
 * const authFetch = useAuthFetch()
 * const me = ref(null)
 * onMounted(async () => { me.value = await authFetch('/api/me').then((r) => r.json()) })
 */
export function useAuthFetch(): AuthFetch {
  const { authFetch } = provided('useAuthFetch');
  if (!authFetch) throw new InvalidOptionsError('useAuthFetch() needs createAuthchart(createAuthFetch(…)); the plugin was given a session without fetch.');
  return authFetch;
}

/**
 * A read-only ref to a value selected from the session's statechart; it changes only when
 * the selected value does (`compare`). Use the selectors exported by `authchart`
 * (`selectState`, `selectIsWaiting`, `selectQueued`, …). Stops following the session
 * when the component (or effect scope) is disposed.
 * @default compare: Object.is
 * @example
 * const queued = useAuthSelector(selectQueued)
 */
export function useAuthSelector<T>(selector: (snapshot: RefreshSnapshot) => T, compare: (a: T, b: T) => boolean = Object.is): Readonly<Ref<T>> {
  const { actor } = provided('useAuthSelector').session;
  const value = shallowRef(selector(actor.getSnapshot()));
  const subscription = actor.subscribe((snapshot) => {
    const next = selector(snapshot);
    if (!compare(value.value, next)) value.value = next;
  });
  if (getCurrentScope()) onScopeDispose(() => subscription.unsubscribe());
  return readonly(value) as Readonly<Ref<T>>;
}

/** What {@link useAuth} returns. Never a token. */
export interface AuthApi {
  /** `authenticated`, `refreshing` or `loggedOut`. */
  status: Readonly<Ref<SessionStatus>>;
  /** The statechart's state: `idle`, `debouncing`, `refreshing`, `backoff` or `loggedOut`. */
  state: Readonly<Ref<ReturnType<typeof selectState>>>;
  login: Session['login'];
  logout: Session['logout'];
  /** Refresh now, or join the refresh under way. */
  refresh: Session['refresh'];
  getAccessToken: Session['getAccessToken'];
  session: Session;
}

/**
 * The session's status (as refs) and actions, for components.
 * @example
 * const { status, logout } = useAuth()
 * // <button v-if="status === 'authenticated'" @click="logout">Sign out</button>
 */
export function useAuth(): AuthApi {
  const session = useSession();
  return {
    status: useAuthSelector(selectSessionStatus),
    state: useAuthSelector(selectState),
    login: session.login,
    logout: session.logout,
    refresh: session.refresh,
    getAccessToken: session.getAccessToken,
    session,
  };
}
