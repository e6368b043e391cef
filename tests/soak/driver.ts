/**
 * What the soak's driver does to the sessions: requests (some aborted), sign-ins and
 * sign-outs, pushed tokens (current and older), and clock jumps. Each action is counted in
 * the ledger and every call it makes is tracked against its bound.
 */
import { testUrls } from '../../adapters/testing/index.js';
import type { Ledger } from './ledger.js';
import type { Random } from './random.js';
import type { Clock, Group, Ops, SoakSession } from './sessions.js';
import { olderByClaims, type TokenEndpoint } from './token-endpoint.js';

const SECOND = 1_000;
const HOUR = 3_600_000;

export interface Driver {
  request(s: SoakSession, options: { calm: boolean; abortable: boolean }): void;
  login(s: SoakSession): void;
  logout(s: SoakSession): void;
  /** Push tokens of the group's grant into one of its sessions: the current ones, or (`any`) older ones too. */
  push(group: Group, r: Random, age: 'current' | 'any'): void;
  /** Jump a clock (seconds, about one token lifetime, hours, or back to zero). */
  jump(clock: Clock, sessions: SoakSession[], r: Random): void;
}

export function createDriver(context: { ledger: Ledger; ops: Ops; endpoint: TokenEndpoint; random: Random; lifetimeS: number }): Driver {
  const { ledger, ops, endpoint, random, lifetimeS } = context;
  let requestNumber = 0;
  const request = (s: SoakSession, options: { calm: boolean; abortable: boolean }) => {
    const n = ++requestNumber;
    if (!options.calm && random.chance(0.15)) {
      ops.track('getAccessToken', s, s.authFetch.getAccessToken(), { calm: options.calm });
      return;
    }
    const controller = new AbortController();
    let aborted = false;
    if (options.abortable && random.chance(0.08)) {
      ledger.inject('app: request aborted');
      setTimeout(
        () => {
          aborted = true;
          controller.abort();
        },
        random.int(0, 3_000),
      );
    }
    ops.track('request', s, s.authFetch(`${testUrls.api}/s/${s.id}/${n}`, { signal: controller.signal }), { calm: options.calm, aborted: () => aborted });
  };
  const login = (s: SoakSession) => {
    const group = s.group;
    const tokens = endpoint.login(group.spec.name);
    group.grant = tokens.grant;
    for (const member of group.sessions) member.loggedOutByUser = false;
    ledger.inject('app: login()');
    ledger.trace(() => `${s.id} login(): grant ${tokens.grant.id}, ${endpoint.label(tokens.accessToken)} ${endpoint.label(tokens.refreshToken)}`);
    const { grant: _, ...set } = tokens;
    s.busy = true;
    const done = s.authFetch.login(set);
    ops.track('login', s, done);
    void done.catch(() => undefined).finally(() => (s.busy = false));
  };
  const logout = (s: SoakSession) => {
    const group = s.group;
    // The user signs out everywhere; the server revokes the grant (as most apps do on logout).
    for (const member of group.sessions) member.loggedOutByUser = true;
    if (group.grant) endpoint.revoke(group.grant);
    ledger.inject('app: logout()');
    ledger.trace(() => `${s.id} logout(): grant ${group.grant?.id} revoked`);
    s.busy = true;
    const done = s.authFetch.logout();
    ops.track('logout', s, done);
    void done.catch(() => undefined).finally(() => (s.busy = false));
  };
  function push(group: Group, r: Random, age: 'current' | 'any'): void {
    const s = r.pick(group.sessions);
    const delivered = group.grant?.delivered ?? [];
    if (s.busy || s.loggedOutByUser || delivered.length === 0) return;
    const latest = delivered[delivered.length - 1]!;
    // Older full sets only where the client can tell them older (JWT claims): with opaque
    // tokens the last one handed over wins (documented), so an old refresh token pushed is the app's own doing.
    const older = delivered.filter((d) => olderByClaims(d, latest));
    const kind =
      age === 'current'
        ? r.pick(['current-access', 'current-full'] as const)
        : r.weighted({ 'current-access': 3, 'current-full': 2, 'older-access': delivered.length > 1 ? 2 : 0, 'older-full': older.length > 0 ? 2 : 0 });
    const pick = kind.startsWith('older') ? r.pick(kind === 'older-full' ? older : delivered.slice(0, -1)) : latest;
    ledger.inject(kind.startsWith('older') ? 'push: older tokens' : 'push: current tokens');
    ledger.trace(
      () => `${s.id} updateTokens(${kind}): ${endpoint.label(pick.accessToken)}${kind.endsWith('full') ? ` ${endpoint.label(pick.refreshToken)}` : ''}`,
    );
    s.busy = true;
    const done = s.authFetch.updateTokens(
      kind.endsWith('full') ? { accessToken: pick.accessToken, refreshToken: pick.refreshToken } : { accessToken: pick.accessToken },
    );
    ops.track('updateTokens', s, done);
    void done.catch(() => undefined).finally(() => (s.busy = false));
  }
  const jump = (clock: Clock, sessions: SoakSession[], r: Random) => {
    const size = r.weighted({ seconds: 3, lifetime: 3, hours: 2, reset: 1 });
    const sign = r.chance(0.5) ? 1 : -1;
    const delta =
      size === 'reset'
        ? -clock.skewMs
        : size === 'seconds'
          ? sign * r.int(1, 120) * SECOND
          : size === 'lifetime'
            ? sign * (lifetimeS * SECOND + r.int(-5_000, 5_000))
            : sign * r.int(1, 24) * HOUR;
    if (delta === 0) return;
    clock.skewMs += delta;
    ledger.inject(delta > 0 ? 'clock: jump forward' : 'clock: jump back');
    ledger.trace(() => `clock of ${sessions.map((x) => x.id).join(', ')} jumps ${Math.round(delta / 1000)} s (skew now ${Math.round(clock.skewMs / 1000)} s)`);
    // A clock that leapt ahead is what a host sees after sleeping: it says so.
    if (delta > 0) for (const s of sessions) s.wake();
  };

  return { request, login, logout, push, jump };
}
