// @vitest-environment happy-dom
/**
 * `authchart/vue` with Vue's own test tooling (@vue/test-utils) and vue-router, against
 * the real rotating strict token server and resource server on 127.0.0.1. End-to-end:
 * real time, every wait bounded.
 */
import { flushPromises, mount } from '@vue/test-utils';
import { fetch as nodeFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defineComponent, h, onMounted, ref } from 'vue';
import { createMemoryHistory, createRouter, RouterView, type Router } from 'vue-router';
import { createAuthFetch, type AuthFetch } from '../../adapters/fetch/index.js';
import { isAuthchartError } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, startTestServers, type TestServers } from '../../adapters/testing/node.js';
import type { TokenServer } from '../../adapters/testing/index.js';
import { createAuthchart, useAuth, useAuthFetch } from '../../adapters/vue/index.js';

let tokens: TokenServer;
let servers: TestServers;
beforeAll(async () => {
  tokens = createTokenServer({ accessTokenTtlSeconds: 60 });
  servers = await startTestServers(tokens);
});
afterAll(async () => {
  await servers?.close();
});

function session(signedIn = true): AuthFetch {
  const login = tokens.login();
  // Node's fetch: happy-dom's would print every 401 the session absorbs to the console.
  const fetch = nodeFetch as unknown as typeof globalThis.fetch;
  return createAuthFetch({
    refresh: oauthRefresher({ tokenEndpoint: servers.tokenEndpoint, clientId: 'vue-tests', fetch }),
    allowedOrigins: [servers.apiOrigin],
    tokens: signedIn ? { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + login.expires_in * 1000 } : undefined,
    fetch,
    wake: false,
  });
}

/** A component that loads one resource when mounted and shows it (or the error's code). */
const Widget = defineComponent({
  props: { id: { type: Number, required: true } },
  setup(props) {
    const authFetch = useAuthFetch();
    const shown = ref('loading');
    onMounted(async () => {
      try {
        const response = await authFetch(`${servers.api}/widget/${props.id}`);
        shown.value = response.ok ? ((await response.json()) as { path: string }).path : `HTTP ${response.status}`;
      } catch (error) {
        shown.value = isAuthchartError(error) ? error.code : String(error);
      }
    });
    return () => h('li', { 'data-widget': props.id }, shown.value);
  },
});

const Dashboard = defineComponent({
  setup() {
    const { status } = useAuth();
    return () =>
      h('div', [
        h('p', { id: 'status' }, status.value),
        h(
          'ul',
          [1, 2, 3, 4, 5].map((id) => h(Widget, { id })),
        ),
      ]);
  },
});
const Login = defineComponent({ setup: () => () => h('p', { id: 'login' }, 'Sign in') });

function app(authFetch: AuthFetch, start = '/') {
  const router: Router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/', component: Dashboard },
      { path: '/login', component: Login },
    ],
  });
  const redirects: (string | null)[] = [];
  const plugin = createAuthchart(authFetch, {
    onLoggedOut: ({ reason }) => {
      redirects.push(reason);
      void router.push('/login');
    },
    isLoginPage: () => router.currentRoute.value.path === '/login',
  });
  const mounted = async () => {
    await router.push(start);
    await router.isReady();
    return mount(defineComponent({ setup: () => () => h(RouterView) }), { global: { plugins: [router, plugin] } });
  };
  return { router, redirects, mounted };
}

async function until(check: () => boolean, timeoutMs: number, what: string) {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
    await flushPromises();
  }
}

describe('authchart/vue: createAuthchart, useAuthFetch, useAuth', () => {
  it('five components loading after expiry: one token call, every one shows its data', async () => {
    const authFetch = session();
    const { mounted } = app(authFetch);
    tokens.resetStats();
    tokens.expireAccessTokens();
    const wrapper = await mounted();
    try {
      const shown = () => wrapper.findAll('li').map((li) => li.text());
      await until(() => shown().every((text) => text !== 'loading'), 5000, 'every widget has loaded');
      console.log(
        `[vue] 5 components after expiry: token calls ${tokens.stats.refreshCalls}, 401s absorbed ${tokens.stats.resourceUnauthorized}, shown ${JSON.stringify(shown())}`,
      );
      expect(shown()).toEqual([1, 2, 3, 4, 5].map((id) => `/api/widget/${id}`));
      expect(tokens.stats.refreshCalls).toBe(1);
      expect(tokens.stats.resourceUnauthorized).toBe(5);
      expect(wrapper.find('#status').text()).toBe('authenticated');
    } finally {
      wrapper.unmount();
      await authFetch.dispose();
    }
  });

  it('logout redirects to the sign-in page once; later requests, remounts and a second logout do not redirect again; the next spell does', async () => {
    const authFetch = session();
    const { router, redirects, mounted } = app(authFetch);
    let wrapper = await mounted();
    try {
      await until(() => wrapper.findAll('li').every((li) => li.text() !== 'loading'), 5000, 'the dashboard has loaded');
      await authFetch.logout();
      await until(() => router.currentRoute.value.path === '/login', 2000, 'the app is on /login');
      expect(redirects).toEqual(['logout']);

      // Still logged out: a request fails, the app is mounted again, logout is called again.
      await expect(authFetch(`${servers.api}/after`)).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
      await router.push('/');
      wrapper.unmount();
      wrapper = await mounted();
      await authFetch.logout();
      await flushPromises();
      expect(redirects).toEqual(['logout']);

      const login = tokens.login();
      await authFetch.login({ accessToken: login.access_token, refreshToken: login.refresh_token });
      await router.push('/');
      await authFetch.logout();
      await until(() => router.currentRoute.value.path === '/login', 2000, 'the second spell redirects');
      expect(redirects).toEqual(['logout', 'logout']);
    } finally {
      wrapper.unmount();
      await authFetch.dispose();
    }
  });

  it('a session that starts without tokens on the sign-in page does not redirect there again', async () => {
    const authFetch = session(false);
    const { redirects, mounted } = app(authFetch, '/login');
    const wrapper = await mounted();
    try {
      await flushPromises();
      expect(wrapper.find('#login').exists()).toBe(true);
      expect(redirects).toEqual([]);
    } finally {
      wrapper.unmount();
      await authFetch.dispose();
    }
  });

  it('useAuth outside the plugin says what to do', () => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const Orphan = defineComponent({
      setup() {
        useAuth();
        return () => null;
      },
    });
    expect(() => mount(Orphan)).toThrow(/createAuthchart/);
  });
});
