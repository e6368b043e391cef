// @vitest-environment happy-dom
/**
 * `authchart/angular` with Angular's own test tooling (TestBed, HttpClient, Router), against
 * the real rotating strict token server and resource server on 127.0.0.1. End-to-end:
 * real time, every wait bounded.
 */
import '@angular/compiler';
import { HttpClient, provideHttpClient, withFetch, withInterceptors } from '@angular/common/http';
import { Component, inject, signal } from '@angular/core';
import { TestBed } from '@angular/core/testing';
import { BrowserTestingModule, platformBrowserTesting } from '@angular/platform-browser/testing';
import { provideRouter, Router } from '@angular/router';
import { firstValueFrom } from 'rxjs';
import { fetch as nodeFetch } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { authInterceptor, injectAuthStatus, provideAuthchart, type AuthchartOptions } from '../../adapters/angular/index.js';
import { createSession, isAuthchartError, type Session } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { createTokenServer, startTestServers, type TestServers } from '../../adapters/testing/node.js';
import type { TokenServer } from '../../adapters/testing/index.js';

let tokens: TokenServer;
let servers: TestServers;
beforeAll(async () => {
  TestBed.initTestEnvironment(BrowserTestingModule, platformBrowserTesting());
  tokens = createTokenServer({ accessTokenTtlSeconds: 60 });
  servers = await startTestServers(tokens);
});
afterAll(async () => {
  await servers?.close();
});
// HttpClient's fetch backend uses the global fetch: Node's, not happy-dom's (which prints
// every 401 the session absorbs to the console).
beforeEach(() => {
  vi.stubGlobal('fetch', nodeFetch);
});
afterEach(() => TestBed.resetTestingModule());

function signedIn(): Session {
  const login = tokens.login();
  return createSession({
    refresh: oauthRefresher({ tokenEndpoint: servers.tokenEndpoint, clientId: 'angular-tests', fetch: nodeFetch as unknown as typeof fetch }),
    tokens: { accessToken: login.access_token, refreshToken: login.refresh_token, expiresAt: Date.now() + login.expires_in * 1000 },
    wake: false,
  });
}

/** An app's environment: HttpClient with the interceptor, a router, the session. */
function configure(session: Session, options: AuthchartOptions = {}): void {
  TestBed.configureTestingModule({
    providers: [
      provideRouter([
        { path: '', children: [] },
        { path: 'dashboard', children: [] },
        { path: 'login', children: [] },
      ]),
      provideAuthchart(session, { allowedOrigins: [servers.apiOrigin], ...options }),
      provideHttpClient(withFetch(), withInterceptors([authInterceptor])),
    ],
  });
}

/** A service in the style of an app's data services: it loads one resource with HttpClient. */
function widgetService() {
  const http = inject(HttpClient);
  return { load: (id: number) => firstValueFrom(http.get<{ path: string }>(`${servers.api}/ng/${id}`)) };
}

// Components as an app writes them, declared without decorator syntax (the Angular compiler
// compiles them just in time): a widget that loads one resource with HttpClient, and a
// dashboard of five widgets with the session's status signal.
const Widget = Component({ selector: 'app-widget', template: '<li>{{ shown() }}</li>', inputs: ['id'] })(
  class Widget {
    id = 0;
    shown = signal('loading');
    private readonly http = inject(HttpClient);
    ngOnInit() {
      this.http.get<{ path: string }>(`${servers.api}/ng/${this.id}`).subscribe({
        next: (body) => this.shown.set(body.path),
        error: (error: unknown) => this.shown.set(isAuthchartError(error) ? error.code : String(error)),
      });
    }
  },
);
const Dashboard = Component({
  selector: 'app-dashboard',
  template: '<p id="status">{{ status() }}</p><ul>@for (id of ids; track id) { <app-widget [id]="id" /> }</ul>',
  imports: [Widget],
})(
  class Dashboard {
    ids = [1, 2, 3, 4, 5];
    status = injectAuthStatus();
  },
);

describe('authchart/angular: provideAuthchart + authInterceptor', () => {
  it('five components loading after expiry: one token call, every one shows its data', async () => {
    const session = signedIn();
    configure(session);
    try {
      tokens.resetStats();
      tokens.expireAccessTokens();
      const fixture = TestBed.createComponent(Dashboard as never);
      const root = fixture.nativeElement as HTMLElement;
      const shown = () => [...root.querySelectorAll('li')].map((li) => li.textContent);
      const statuses: string[] = [];
      // Render as the app would, sampling what the status signal shows on the way.
      const end = Date.now() + 5000;
      for (;;) {
        fixture.detectChanges();
        const status = root.querySelector('#status')?.textContent ?? '';
        if (statuses.at(-1) !== status) statuses.push(status);
        if (shown().length === 5 && shown().every((text) => text !== 'loading')) break;
        if (Date.now() > end) throw new Error(`timed out waiting for the widgets: ${JSON.stringify(shown())}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      console.log(
        `[angular] 5 components after expiry: token calls ${tokens.stats.refreshCalls}, 401s absorbed ${tokens.stats.resourceUnauthorized}, shown ${JSON.stringify(shown())}, status ${JSON.stringify(statuses)}`,
      );
      expect(shown()).toEqual([1, 2, 3, 4, 5].map((id) => `/api/ng/${id}`));
      expect(tokens.stats.refreshCalls).toBe(1);
      expect(tokens.stats.resourceUnauthorized).toBe(5);
      expect(tokens.stats.reuseDetected).toBe(0);
      expect(statuses).toEqual(['authenticated', 'refreshing', 'authenticated']);
    } finally {
      await session.dispose();
    }
  });

  it('logout navigates to /login once (onLoggedOut runs where inject() works); later failures and logouts do not navigate again', async () => {
    const session = signedIn();
    const redirects: (string | null)[] = [];
    configure(session, {
      onLoggedOut: ({ reason }) => {
        redirects.push(reason);
        void inject(Router).navigateByUrl('/login');
      },
      isLoginPage: () => inject(Router).url.startsWith('/login'),
    });
    const router = TestBed.inject(Router);
    const service = TestBed.runInInjectionContext(widgetService);
    try {
      await router.navigateByUrl('/dashboard');
      expect((await service.load(1)).path).toBe('/api/ng/1');
      await session.logout();
      await vi.waitFor(() => expect(router.url).toBe('/login'), { timeout: 2000 });
      // Still logged out, the user goes back: a request fails, logout is called again.
      await router.navigateByUrl('/dashboard');
      const failure = await service.load(2).catch((error: unknown) => error);
      await session.logout();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(isAuthchartError(failure, 'SESSION_EXPIRED')).toBe(true);
      expect(redirects).toEqual(['logout']);
      expect(router.url).toBe('/dashboard');
    } finally {
      await session.dispose();
    }
  });

  it('a token refused again after the refresh fails with UNAUTHORIZED_AFTER_REFRESH after one token call; other origins never get the token', async () => {
    const session = signedIn();
    configure(session);
    const http = TestBed.inject(HttpClient);
    try {
      tokens.resetStats();
      // The resource server refuses every token (a wrong audience, say), the refreshed one too.
      const authenticate = tokens.authenticate;
      tokens.authenticate = () => ({ ok: false, error: 'invalid_token' });
      const failure = await firstValueFrom(http.get(`${servers.api}/ng/refused`))
        .catch((error: unknown) => error)
        .finally(() => {
          tokens.authenticate = authenticate;
        });
      expect(isAuthchartError(failure, 'UNAUTHORIZED_AFTER_REFRESH')).toBe(true);
      expect(tokens.stats.refreshCalls).toBe(1);

      const seen: (string | null)[] = [];
      vi.stubGlobal('fetch', (input: RequestInfo | URL, init?: RequestInit) => {
        seen.push(new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)).get('authorization'));
        return Promise.resolve(new Response('{}', { headers: { 'content-type': 'application/json' } }));
      });
      await firstValueFrom(http.get('https://elsewhere.example/data'));
      expect(seen).toEqual([null]);
    } finally {
      await session.dispose();
    }
  });

  it('a request cancelled while it waits for the refresh leaves the queue at once', async () => {
    const session = signedIn();
    configure(session);
    const http = TestBed.inject(HttpClient);
    try {
      tokens.fault({ type: 'delay', ms: 3000 });
      tokens.expireAccessTokens();
      const subscription = http.get(`${servers.api}/ng/cancelled`).subscribe({ error: () => undefined });
      await vi.waitFor(() => expect(session.getStatus().queued).toBe(1), { timeout: 3000 });
      subscription.unsubscribe();
      await vi.waitFor(() => expect(session.getStatus().queued).toBe(0), { timeout: 500 });
    } finally {
      await session.dispose();
    }
  });
});
