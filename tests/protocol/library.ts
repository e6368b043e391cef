/**
 * The one place where the protocol explorer touches authchart: which functions it calls,
 * with which options, and how it reads their answers. Everything goes through the public
 * API (createSession and its options, Session methods, createAuthFetch,
 * createSessionManager, memoryStore, memoryLock, the error classes), so that the core can
 * be refactored underneath; when an API changes, this file is the one to update.
 *
 * A "library" is a set of those functions loaded from a source tree: the project itself,
 * or a broken copy of it (a mutant) built in `.scratch/`.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import * as core from '../../adapters/index.js';
import * as fetchFrontEnd from '../../adapters/fetch/index.js';
import * as server from '../../adapters/server/index.js';
import type { RefreshLock, Refresher, RefreshedTokens, Session, TokenSet, TokenStore } from '../../adapters/index.js';
import type { SessionManager } from '../../adapters/server/index.js';

export type { RefreshLock, Refresher, RefreshedTokens, Session, TokenSet, TokenStore, StoredTokens, LockHandle } from '../../adapters/index.js';
export type { SessionManager } from '../../adapters/server/index.js';

export interface Library {
  /** Where it was loaded from (for messages). */
  name: string;
  createSession: typeof core.createSession;
  createSessionManager: typeof server.createSessionManager;
  memoryStore: typeof core.memoryStore;
  memoryLock: typeof core.memoryLock;
  isAuthchartError: typeof core.isAuthchartError;
  RefreshError: typeof core.RefreshError;
  createAuthFetch: typeof fetchFrontEnd.createAuthFetch;
}

/** The project as it is. */
export const project: Library = {
  name: 'authchart',
  createSession: core.createSession,
  createSessionManager: server.createSessionManager,
  memoryStore: core.memoryStore,
  memoryLock: core.memoryLock,
  isAuthchartError: core.isAuthchartError,
  RefreshError: core.RefreshError,
  createAuthFetch: fetchFrontEnd.createAuthFetch,
};

/** Load the same API from a copy of the source tree (`root` holds `adapters/` and `machines/`). */
export async function loadLibrary(root: string, name: string): Promise<Library> {
  const url = (path: string) => pathToFileURL(join(root, path)).href;
  const c = (await import(/* @vite-ignore */ url('adapters/index.ts'))) as typeof core;
  const f = (await import(/* @vite-ignore */ url('adapters/fetch/index.ts'))) as typeof fetchFrontEnd;
  const m = (await import(/* @vite-ignore */ url('adapters/server/index.ts'))) as typeof server;
  return {
    name,
    createSession: c.createSession,
    createSessionManager: m.createSessionManager,
    memoryStore: c.memoryStore,
    memoryLock: c.memoryLock,
    isAuthchartError: c.isAuthchartError,
    RefreshError: c.RefreshError,
    createAuthFetch: f.createAuthFetch,
  };
}

/** Session tunables the world uses (the bounds of its invariants are computed from them). */
export const TUNING = {
  maxWaitMs: 30_000,
  refreshTimeoutMs: 10_000,
  lockTimeoutMs: 10_000,
  debounceMs: 100,
  backoffBaseMs: 1_000,
} as const;

export interface SessionPorts {
  refresh: Refresher;
  store: TokenStore;
  lock?: RefreshLock;
  now: () => number;
}

/** A browser tab's (or a process's) session over the world's ports. */
export function openSession(lib: Library, ports: SessionPorts): Session {
  return lib.createSession({ ...sessionTuning(ports.now), refresh: ports.refresh, store: ports.store, ...(ports.lock ? { lock: ports.lock } : {}) });
}

function sessionTuning(now: () => number) {
  return { ...TUNING, now, wakeEvents: false };
}

/** A fetch front end over a session; `fetch` is the world's resource server. */
export function openFetch(lib: Library, session: Session, fetch: typeof globalThis.fetch) {
  return lib.createAuthFetch({ session, allowedOrigins: [RESOURCE_ORIGIN], fetch });
}

export const RESOURCE_ORIGIN = 'https://api.protocol.test';

/** A server instance's session manager over the world's ports. */
export function openManager(
  lib: Library,
  ports: { refresh: Refresher; store: (id: string) => TokenStore; lock?: (id: string) => RefreshLock; now: () => number; maxSessions: number },
): SessionManager {
  return lib.createSessionManager({
    refresh: ports.refresh,
    store: ports.store,
    ...(ports.lock ? { lock: ports.lock } : {}),
    maxSessions: ports.maxSessions,
    idleTimeoutMs: 60_000,
    session: sessionTuning(ports.now),
  });
}

/** What a refresher hands back for a 2xx token answer. `expiresAt` mode: an absolute time on the server's clock (Supabase `expires_at`, a JWT `exp`). */
export function refreshedTokens(
  body: { access_token: string; refresh_token?: string; expires_in: number },
  expiry: 'expiresIn' | 'serverClock',
  serverNow: number,
): RefreshedTokens {
  const tokens: RefreshedTokens = { accessToken: body.access_token };
  if (body.refresh_token !== undefined) tokens.refreshToken = body.refresh_token;
  if (expiry === 'expiresIn') tokens.expiresIn = body.expires_in;
  else tokens.expiresAt = serverNow + body.expires_in * 1000;
  return tokens;
}

/** The error a refresher throws for a non-2xx token answer (classified as the OAuth preset does). */
export function tokenEndpointError(lib: Library, status: number, error: string | undefined, retryAfterMs: number | undefined): Error {
  const transient = status === 408 || status === 429 || status >= 500 || error === 'temporarily_unavailable' || error === 'slow_down';
  return new lib.RefreshError({
    kind: transient ? 'transient' : 'permanent',
    reason: error ?? `HTTP_${status}`,
    status,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

/** The error a refresher throws when the connection is reset (fetch's TypeError). */
export function networkError(): Error {
  return new TypeError('fetch failed');
}

/** A sign-in's tokens as the app hands them to `login()` or creates the session with. */
export function signInTokens(accessToken: string, refreshToken: string, expiresAt: number): TokenSet {
  return { accessToken, refreshToken, expiresAt };
}

/** The error code of what a caller got, or null when it is not an authchart error (a defect: every error has a code). */
export function errorCode(lib: Library, error: unknown): string | null {
  return lib.isAuthchartError(error) ? (error as { code: string }).code : null;
}

/** Whether a session says it has ended. */
export function isLoggedOut(session: Session): boolean {
  return session.getStatus().state === 'loggedOut';
}
