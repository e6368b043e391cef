/**
 * What a soak injected (counts per fault) and what held (per invariant: checks made,
 * violations, and the first few violations in words, with the episode and simulated time).
 */

/** The faults, in the order the table prints them. */
export const FAULTS = {
  'token: 503': 'the token endpoint answers 503 (half of them with Retry-After)',
  'token: 429 + Retry-After': 'the token endpoint answers 429 with Retry-After 1-5 s',
  'token: connection reset': 'the connection is reset before the server reads the request',
  'token: hang past refreshTimeoutMs': 'the token endpoint never answers; the client gives up at refreshTimeoutMs',
  'token: slow answer': 'the answer comes after 0.2-4 s, within refreshTimeoutMs',
  'token: lost response (rotated, reset)': 'the server rotates the refresh token, then the connection is reset',
  'token: rotated after the client gave up': 'the answer comes after refreshTimeoutMs; the server rotates anyway',
  'token: born expired': 'expires_in 0, or a JWT whose exp is not after its iat (or already past)',
  'token: push during the call': 'updateTokens() with the current tokens while the token call is at the server',
  'store: slow': 'every store call takes 50-2,000 ms (in order), for 20-90 s',
  'store: hang': 'store calls never answer for 3-30 s; then half land late, half never',
  'store: writes throw': 'set() throws (quota exceeded) for 5-60 s',
  'clock: jump forward': 'a session clock (`now`) jumps ahead: seconds, about one token lifetime, or hours to a day',
  'clock: jump back': 'the same, backwards',
  'push: older tokens': 'updateTokens() with an access token (and, with JWTs, its refresh token) older than the current one',
  'push: current tokens': 'updateTokens() with the current access token only, or the current full set',
  'herd: every access token expires': 'the server expires every access token at once (the herd)',
  'app: logout()': 'logout() at a random moment (the server revokes the grant)',
  'app: login()': 'login() with a new grant at a random moment',
  'app: refresh()': 'refresh() at a random moment',
  'app: request aborted': 'a request aborted by its caller',
} as const;
export type Fault = keyof typeof FAULTS;

/** The invariants, in the order the table prints them. */
export const INVARIANTS = {
  'one token call in flight per grant': 'never two refresher calls in flight for one session, or for one grant across the sessions sharing its store and lock',
  'no rotated-away refresh token presented': 'a refresh token the server has rotated is never presented again, except after a lost response',
  'every call settles within its bound':
    'requests, getAccessToken(), refresh(), login(), logout() and updateTokens() settle once, within their bound, with an answer or a typed error',
  'no logout while the grant is valid': 'a session enters loggedOut only by logout() or once its grant is revoked at the server',
  'token calls per hour within the bound':
    'in calm stretches: idle, at most hours/lifetime + 1 token calls; in use, one per token (hours/refresh interval + 1)',
  'calm stretches succeed': 'after the faults stop, every request of a signed-in session succeeds',
} as const;
export type Invariant = keyof typeof INVARIANTS;

export interface InvariantTally {
  checks: number;
  violations: number;
  examples: string[];
}

const MAX_EXAMPLES = 5;
const TRACE_LENGTH = 60;

export class Ledger {
  readonly injected = new Map<Fault, number>();
  readonly held = new Map<Invariant, InvariantTally>();
  /** Presentations of a rotated-away refresh token in the documented cases (lost response, rotation the shared store never took). */
  excused = 0;
  /** Where a violation is said to happen (set by the episode runner). */
  where = () => '';
  /** The last events, printed with a violation when `AUTHCHART_SOAK_TRACE=1` (to replay a seed and see why). */
  private readonly recent: string[] = [];
  private readonly tracing = process.env.AUTHCHART_SOAK_TRACE === '1';

  constructor() {
    for (const fault of Object.keys(FAULTS) as Fault[]) this.injected.set(fault, 0);
    for (const invariant of Object.keys(INVARIANTS) as Invariant[]) this.held.set(invariant, { checks: 0, violations: 0, examples: [] });
  }

  /** Note an event for the trace (cheap when tracing is off). */
  trace(event: () => string): void {
    if (!this.tracing) return;
    this.recent.push(`${this.where()} ${event()}`);
    if (this.recent.length > TRACE_LENGTH) this.recent.shift();
  }

  inject(fault: Fault, count = 1): void {
    this.injected.set(fault, (this.injected.get(fault) ?? 0) + count);
  }

  /** One check of `invariant`; `violation` is null when it held, else what went wrong. */
  check(invariant: Invariant, violation: string | null): void {
    const tally = this.held.get(invariant)!;
    tally.checks++;
    if (violation === null) return;
    tally.violations++;
    if (this.tracing) console.log(`VIOLATION ${invariant}: ${this.where()} ${violation}\n  ${this.recent.join('\n  ')}`);
    if (tally.examples.length < MAX_EXAMPLES) tally.examples.push(`${this.where()} ${violation}`.trim());
  }

  get violations(): number {
    let total = 0;
    for (const tally of this.held.values()) total += tally.violations;
    return total;
  }

  /** Every violation example, one per line. */
  describeViolations(): string[] {
    const lines: string[] = [];
    for (const [name, tally] of this.held) for (const example of tally.examples) lines.push(`${name}: ${example}`);
    return lines;
  }
}
