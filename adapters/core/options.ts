/**
 * The session's options: one defaults object, validated once, at construction. Every
 * default of the session lives here (the statechart's own tunables come from the machine's
 * `defaultRefreshOptions` and are validated here too).
 */
import { defaultRefreshOptions, MAX_TIMER_MS, type RefreshMachineOptions } from '../../machines/refresh.machine.js';
import { InvalidOptionsError } from './errors.js';
import { normalizeTokenType } from './record.js';
import type { DPoPKeyStore, RefreshLock, Refresher, TokenSet, TokenStore } from './ports.js';

/** Defaults of every session option that has one. */
export const sessionDefaults = Object.freeze({
  ...defaultRefreshOptions,
  /** Longest a request waits for a refresh before `QUEUE_TIMEOUT`. */
  maxWaitMs: 30_000,
  /** Bound of one refresh call (a transient `TIMEOUT` past it). */
  refreshTimeoutMs: 10_000,
  /** Bound of waiting for the refresh lock (`LOCK_TIMEOUT`). */
  lockTimeoutMs: 10_000,
  /** Bound of one token-store call (`STORE_UNAVAILABLE`). */
  storeTimeoutMs: 5_000,
  /** Refresh this long before a known expiry (never more than half the lifetime). */
  leewayMs: 30_000,
  /** Refresh ahead of the expiry at all. */
  proactive: true,
  /** Refresh ahead of the expiry even while nothing uses the session. */
  keepAlive: false,
  /** Never schedule a proactive refresh sooner than this after tokens arrive. */
  minRefreshIntervalMs: 5_000,
  /** Where the refresh token lives. */
  refreshTokenIn: 'store' as 'store' | 'cookie',
});

/** What the session works with: every option present and valid. */
export interface NormalizedOptions extends RefreshMachineOptions {
  refresh: Refresher;
  store: TokenStore | undefined;
  lock: RefreshLock | undefined;
  dpop: DPoPKeyStore | undefined;
  tokens: TokenSet | undefined;
  maxWaitMs: number;
  refreshTimeoutMs: number;
  lockTimeoutMs: number;
  storeTimeoutMs: number;
  leewayMs: number;
  proactive: boolean;
  keepAlive: boolean;
  minRefreshIntervalMs: number;
  refreshTokenIn: 'store' | 'cookie';
  now: () => number;
}

type Check = (value: unknown) => boolean;
const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const atLeast =
  (min: number): Check =>
  (value) =>
    finite(value) && value >= min;
const timer: Check = (value) => finite(value) && value > 0 && value <= MAX_TIMER_MS;
const wholeAtLeast =
  (min: number): Check =>
  (value) =>
    finite(value) && Number.isInteger(value) && value >= min;
const isFunction: Check = (value) => typeof value === 'function';

/** Each numeric option: its check and the words of the error. */
const numeric: Record<string, [Check, string]> = {
  debounceMs: [(v) => atLeast(0)(v) && (v as number) <= MAX_TIMER_MS, 'a number of milliseconds ≥ 0'],
  backoffBaseMs: [(v) => atLeast(0)(v) && (v as number) <= MAX_TIMER_MS, 'a number of milliseconds ≥ 0'],
  backoffFactor: [atLeast(1), 'a finite number ≥ 1'],
  maxRetries: [wholeAtLeast(0), 'a whole number ≥ 0'],
  maxPermanentFailures: [wholeAtLeast(1), 'a whole number ≥ 1'],
  maxBackoffMs: [timer, `a number of milliseconds > 0 and ≤ ${MAX_TIMER_MS}`],
  jitter: [(v) => finite(v) && v >= 0 && v <= 1, 'a number from 0 to 1'],
  maxWaitMs: [timer, `a number of milliseconds > 0 and ≤ ${MAX_TIMER_MS} (every request needs a bound)`],
  refreshTimeoutMs: [timer, `a number of milliseconds > 0 and ≤ ${MAX_TIMER_MS}`],
  lockTimeoutMs: [timer, `a number of milliseconds > 0 and ≤ ${MAX_TIMER_MS}`],
  storeTimeoutMs: [timer, `a number of milliseconds > 0 and ≤ ${MAX_TIMER_MS}`],
  leewayMs: [atLeast(0), 'a number of milliseconds ≥ 0'],
  minRefreshIntervalMs: [atLeast(0), 'a number of milliseconds ≥ 0'],
};

function fail(name: string, expected: string, value: unknown): never {
  const shown = typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined ? String(value) : typeof value;
  throw new InvalidOptionsError(`Option \`${name}\` must be ${expected} (got ${shown}).`);
}

function isStore(value: unknown): value is TokenStore {
  const s = value as Partial<TokenStore> | null;
  return typeof s === 'object' && s !== null && typeof s.get === 'function' && typeof s.set === 'function' && typeof s.clear === 'function';
}

/**
 * Validate the options a session is created with and fill in every default. One typed
 * error (`INVALID_OPTIONS`) names the first option that is wrong. Options this function does
 * not know (a front end's own) are left alone.
 */
export function normalizeOptions(options: Record<string, unknown>): NormalizedOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionsError('Options must be an object.');
  const out: Record<string, unknown> = { ...sessionDefaults };
  for (const [name, [check, expected]] of Object.entries(numeric)) {
    const value = options[name];
    if (value === undefined) continue;
    if (!check(value)) fail(name, expected, value);
    out[name] = value;
  }
  if (!isFunction(options.refresh)) {
    fail('refresh', 'a function (refreshToken, { signal }) => Promise<tokens>, for instance oauthRefresher({ tokenEndpoint, clientId })', options.refresh);
  }
  out.refresh = options.refresh;
  for (const name of ['proactive', 'keepAlive'] as const) {
    if (options[name] === undefined) continue;
    if (typeof options[name] !== 'boolean') fail(name, 'true or false', options[name]);
    out[name] = options[name];
  }
  if (options.refreshTokenIn !== undefined) {
    if (options.refreshTokenIn !== 'store' && options.refreshTokenIn !== 'cookie') fail('refreshTokenIn', "'store' or 'cookie'", options.refreshTokenIn);
    out.refreshTokenIn = options.refreshTokenIn;
  }
  if (options.store !== undefined && !isStore(options.store)) fail('store', 'a TokenStore ({ get, set, clear })', options.store);
  out.store = options.store;
  const lock = options.lock as Partial<RefreshLock> | undefined;
  if (lock !== undefined && (typeof lock !== 'object' || lock === null || typeof lock.acquire !== 'function'))
    fail('lock', 'a RefreshLock ({ acquire })', lock);
  out.lock = lock;
  const dpop = options.dpop as Partial<DPoPKeyStore> | undefined;
  if (dpop !== undefined && (typeof dpop !== 'object' || dpop === null || typeof dpop.getOrCreate !== 'function' || typeof dpop.clear !== 'function')) {
    fail('dpop', 'a DPoPKeyStore ({ getOrCreate, rotate, clear }), e.g. memoryDPoPKeys()', dpop);
  }
  out.dpop = dpop;
  const tokens = options.tokens as Partial<TokenSet> | undefined;
  if (tokens !== undefined) {
    if (typeof tokens !== 'object' || tokens === null || typeof tokens.accessToken !== 'string' || tokens.accessToken === '') {
      fail('tokens', 'a token set with a non-empty accessToken', tokens);
    }
    if (tokens.refreshToken !== undefined && typeof tokens.refreshToken !== 'string') fail('tokens.refreshToken', 'a string', tokens.refreshToken);
    if (tokens.expiresAt !== undefined && !finite(tokens.expiresAt)) fail('tokens.expiresAt', 'epoch milliseconds', tokens.expiresAt);
    if (tokens.tokenType !== undefined && !normalizeTokenType(tokens.tokenType)) fail('tokens.tokenType', "'DPoP' or 'Bearer'", tokens.tokenType);
  }
  out.tokens = tokens;
  if (options.now !== undefined && !isFunction(options.now)) fail('now', 'a function returning epoch milliseconds', options.now);
  out.now = options.now ?? Date.now;
  for (const name of ['logger', 'wake'] as const) {
    const value = options[name];
    if (value !== undefined && !isFunction(value) && !(name === 'wake' && value === false))
      fail(name, name === 'wake' ? 'a WakeSource function or false' : 'a function', value);
  }
  const inspect = options.inspect as { next?: unknown } | undefined;
  if (inspect !== undefined && !isFunction(inspect) && !(typeof inspect === 'object' && inspect !== null && isFunction(inspect.next))) {
    fail('inspect', 'an inspector observer or a function', inspect);
  }
  return out as unknown as NormalizedOptions;
}

/**
 * A positive, finite numeric option of a driver, or its default when absent. Infinity is
 * refused: a timer given it fires at once instead of never.
 */
export function positiveOption(name: string, value: number | undefined, fallback: number, unit = 'number'): number {
  if (value === undefined) return fallback;
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) throw new InvalidOptionsError(`${name} must be a positive ${unit}.`);
  return value;
}
