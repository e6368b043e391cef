/**
 * The vocabulary of the protocol explorer's world: the invariants and the documented
 * unrecoverable steps (by name, as reports print them), and the records the world keeps of
 * what happened (token families and their rotations, token calls, requests, parties).
 */
import type { Session, SessionManager, StoredTokens } from './library.js';
import { TUNING, type openFetch } from './library.js';
import type { Action, FreezePoint } from './scenario.js';
import type { Owner } from './scheduler.js';

/** The invariants, by name. */
export const INVARIANTS = {
  'single-flight': 'never two token calls in flight for one token family',
  'no-reuse': 'no refresh token presented after its rotation, except after a documented unrecoverable step',
  bounded: 'every request settles within its bound, with an authchart error (a code) when it fails',
  'no-failure-without-cause': 'a request fails only when a fault it cannot survive happened around it',
  'no-logout-while-valid': 'no session logs out while its grant is valid and reachable',
  convergence: 'once faults stop, every session holds the newest tokens (or all are signed out, if the user signed out last)',
  'clock-rule': 'token calls per family ≤ elapsed / lifetime + 1 (+ one per fault) with no requests; never a refresh loop',
  'no-herd': 'one token call per expiry: nobody refreshes a token another party has just refreshed',
  'fresh-after-sign-in':
    'a party that read a newer sign-in from the store never serves one the store had replaced; a manager never serves the previous sign-in after login(id)/logout(id) settled on it',
  'no-uncaught': 'no error thrown out of a timer or event of the library',
} as const;
export type InvariantName = keyof typeof INVARIANTS;

/**
 * Steps after which losing the newest refresh token cannot be avoided by any client, named
 * so that a reuse after them is expected (and, on a strict server, ends the session).
 */
export const DOCUMENTED_STEPS = {
  LOST_RESPONSE: 'the server rotated the refresh token and its answer was lost (connection reset)',
  SILENT_AFTER_ROTATION: 'the server rotated the refresh token and never answered; the client gave up at refreshTimeoutMs',
  DISPOSED_MID_REFRESH: 'the app disposed the session after its token call reached the server',
  DIED_MID_REFRESH: 'the tab or process died after its token call reached the server',
  FROZEN_CALL_ARRIVED_LATE: "a frozen party's token call, sent before it froze, reached the server after another party rotated",
  FROZEN_AFTER_ROTATION:
    'the lock holder froze after its token call rotated the refresh token, before the answer reached it; the lock was taken over, and the new holder could only present the old refresh token',
  STORE_WRITE_FAILED: 'the store never answered or refused the write of the rotated tokens, so the other parties could only read the old ones',
} as const;
export type DocumentedStep = keyof typeof DOCUMENTED_STEPS;

export interface Violation {
  invariant: InvariantName;
  at: number;
  message: string;
}

export interface Family {
  name: string;
  /** tabs: 'tabs'; manager: the user session id. */
  id: string;
  birth: number;
  rtIndex: number;
  atIndex: number;
  /** Rotations in order; the last one made the current refresh token. */
  rotations: Rotation[];
  /** Refresh tokens rotated away → the rotation that did it. */
  rotatedAway: Map<string, Rotation>;
  /** The refresh token the server accepts now (a secret: never printed). */
  currentRt: string;
  /** Revoked as a consequence of a documented step (or a reuse already reported). */
  revocationExplained: boolean;
  /** The user signed out or signed in again: nothing is owed to this family anymore. */
  ended: boolean;
  /** The store version of the last write of this sign-in's tokens (absent: never written). */
  lastStoreVersion?: number;
  tokenCalls: number;
  faults: number;
  documented: DocumentedStep[];
}

export interface Rotation {
  family: Family;
  call: TokenCall;
  at: number;
  from: string;
  to: string;
  /** What became of the answer that carried the new refresh token. */
  fate: 'pending' | 'delivered' | DocumentedStep | 'ABANDONED';
}

export interface TokenCall {
  n: number;
  owner: Owner;
  presented: string;
  family: Family | undefined;
  start: number;
  state: 'sent' | 'arrived' | 'done' | 'cancelled' | 'lost';
  frozenInFlight: boolean;
  fault: TokenFault | null;
  rotation?: Rotation;
}

export type TokenFault = Extract<Action, { type: 'tokenFault' }>['fault'];

export interface RequestRecord {
  n: number;
  owner: Owner;
  kind: 'fetch' | 'getToken' | 'refresh' | 'login' | 'logout' | 'push' | 'dispose' | 'mGet' | 'mLogin' | 'mLogout';
  label: string;
  start: number;
  deadline: number;
  settled: boolean;
  settledAt?: number;
  failure?: string;
  /** Sign-ins and sign-outs: the user session id they change ('tabs' in the tab world). */
  id?: string;
  /** Sign-ins: the sign-in they start. */
  family?: Family;
  /** A sign-in that settled with its tokens held in memory only (the store refused or did not answer). */
  unstoredWhenSettled?: boolean;
}

export interface Party {
  owner: Owner;
  index: number;
  offsetMs: number;
  driftPpm: number;
  session?: Session;
  authFetch?: ReturnType<typeof openFetch>;
  manager?: SessionManager;
  disposed: boolean;
  frozenSince: number | null;
  /** Store faults waiting for this party's next store call / write. */
  storeHang: number;
  storeThrow: number;
  dropNotify: number;
  /** Notifications this party never got (it may hold older tokens until its next refresh). */
  lostNotifications: number;
  loggingOut: boolean;
  /** A freeze waiting for its point (the party's next lock grant, store read, token call). */
  armedFreeze: { on: FreezePoint; ms: number } | null;
}

export interface Answer {
  token?: string;
  code?: string | null;
  stored: StoredTokens | null;
}

/** What a user does in a tab or a server handles: runs as that party. */
export const USER_ACTIONS = new Set<string>(['request', 'getToken', 'refresh', 'push', 'login', 'logout', 'dispose', 'mGet', 'mLogin', 'mLogout']);

/** A request bound: two waits for a refresh (before sending and after a 401) and the network. */
export const REQUEST_BOUND_MS = 2 * TUNING.maxWaitMs + 4 * 1_000 + 1_000;
/** Faults around a failed request that excuse it: from this long before it started. */
export const EXCUSE_WINDOW_MS = 60_000;
/** Healing: how long the world runs without faults before the convergence check. */
export const SETTLE_MS = 90_000;
export const MAX_STEPS = 3_000;
