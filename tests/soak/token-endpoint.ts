/**
 * The rotating token server (`createTokenServer`, strict reuse detection) behind msw, with
 * faults chosen per token call, and the bookkeeping the invariants need: which grant (token
 * family) each refresh token belongs to, which grants are revoked, which rotations reached
 * the session that asked for them, and how many token calls each group made when.
 *
 * Access tokens are the server's opaque ones, or wrapped in an unsigned JWT carrying the
 * server's times (`iat`, `exp`) and the opaque token (`jti`): the resource handler unwraps
 * it before the server checks it. Which one, and what the answer says of the lifetime
 * (`expires_in`, or only the JWT's times), is the episode's token format.
 */
import { delay, http, HttpResponse } from 'msw';
import { createTokenServer, resourceReply, testUrls, type TokenServer, type TokenServerReply } from '../../adapters/testing/index.js';
import type { Fault, Ledger } from './ledger.js';
import type { Random } from './random.js';

/** `opaque` and `jwt`: expires_in given. `jwt-iat`: only the JWT's iat and exp. `jwt-exp`: only its exp (an absolute server time). */
export type TokenFormat = 'opaque' | 'jwt' | 'jwt-iat' | 'jwt-exp';

export type TokenFault = 'unavailable' | 'rateLimited' | 'reset' | 'hang' | 'slow' | 'lostResponse' | 'lateRotation' | 'bornExpired' | 'pushDuring';

const FAULT_NAMES: Record<TokenFault, Fault> = {
  unavailable: 'token: 503',
  rateLimited: 'token: 429 + Retry-After',
  reset: 'token: connection reset',
  hang: 'token: hang past refreshTimeoutMs',
  slow: 'token: slow answer',
  lostResponse: 'token: lost response (rotated, reset)',
  lateRotation: 'token: rotated after the client gave up',
  bornExpired: 'token: born expired',
  pushDuring: 'token: push during the call',
};

/** One grant as the client sees it: the tokens delivered for it, in order. */
export interface Delivered {
  accessToken: string;
  refreshToken: string;
  /** The JWT claims the client can read (seconds), for JWT formats. */
  claims?: { iat?: number; exp: number };
}

/** Whether `a` is older than `b` by what a client can read: `iat` when both have one, else `exp` (authchart's documented order). */
export function olderByClaims(a: Delivered, b: Delivered): boolean {
  if (!a.claims || !b.claims) return false;
  if (a.claims.iat !== undefined && b.claims.iat !== undefined && a.claims.iat !== b.claims.iat) return a.claims.iat < b.claims.iat;
  return a.claims.exp < b.claims.exp;
}

export interface Grant {
  id: number;
  revoked: boolean;
  /** Tokens of this grant that reached a session (login, or a token answer it read). */
  delivered: Delivered[];
}

/** A rotation the server made: the refresh token it issued, and the sessions whose refresher received it. */
interface Rotation {
  next: string | null;
  receivedBy: Set<string>;
}

export interface EndpointHooks {
  /** The fault for this token call of `group`, or null (calm, or the dice said no). */
  fault(group: string): TokenFault | null;
  /** Push the group's current tokens into one of its sessions now (the call is at the server meanwhile). */
  pushDuring(group: string): void;
  /** Whether the refresh token `next` ever reached the group's store (for the documented unstored-rotation case). */
  storeEverHeld(group: string, refreshToken: string): boolean;
  /** The session of `group` whose refresher is calling now (one at a time, if single flight holds). */
  caller(group: string): string | undefined;
}

export interface TokenEndpoint {
  server: TokenServer;
  handlers: ReturnType<typeof http.post>[];
  /** Sign a group's user in: a new grant. */
  login(group: string): { accessToken: string; refreshToken: string; expiresAt?: number; grant: Grant };
  /** Log the group's user out at the server: revoke the grant. */
  revoke(grant: Grant): void;
  grantOf(refreshToken: string | undefined): Grant | undefined;
  /** `session`'s refresher received this refresh token in an answer. */
  reached(refreshToken: string | undefined, session: string): void;
  /** Arrival times of each group's token calls (simulated ms). */
  callTimes: Map<string, number[]>;
  /** A short name for a token in traces (`rt12`), never the token itself. */
  label(token: string | undefined): string;
}

const clientIdOf = (group: string) => `soak-${group}`;
const groupOf = (clientId: string | null) => (clientId?.startsWith('soak-') ? clientId.slice(5) : '?');

function base64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

/** An unsigned JWT wrapping the opaque token; authchart reads its times, never verifies it. */
function wrap(opaque: string, claims: { iat?: number; exp: number }): string {
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: 'soak', jti: opaque, ...claims })}.`;
}

function unwrap(token: string): string {
  const parts = token.split('.');
  if (parts.length !== 3) return token;
  try {
    const claims = JSON.parse(atob(parts[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { jti?: string };
    return claims.jti ?? token;
  } catch {
    return token;
  }
}

const toResponse = (reply: TokenServerReply): Response =>
  reply.kind === 'reset'
    ? HttpResponse.error()
    : reply.kind === 'html'
      ? new HttpResponse(reply.body, { status: reply.status, headers: { 'content-type': 'text/html' } })
      : HttpResponse.json(reply.body, { status: reply.status, headers: reply.headers });

export function createTokenEndpoint(options: {
  lifetimeS: number;
  format: TokenFormat;
  reuseGraceMs: number;
  refreshTimeoutMs: number;
  random: Random;
  ledger: Ledger;
  hooks: EndpointHooks;
  /** Simulated time since the episode began. */
  elapsed: () => number;
}): TokenEndpoint {
  const { lifetimeS, format, random, ledger, hooks } = options;
  const server = createTokenServer({ accessTokenTtlSeconds: lifetimeS, reuseGraceMs: options.reuseGraceMs });
  const grants = new Map<string, Grant>();
  const rotations = new Map<string, Rotation>();
  const callTimes = new Map<string, number[]>();
  let nextGrant = 1;
  const endpoint = {} as TokenEndpoint;
  const labels = new Map<string, string>();
  endpoint.label = (token) => {
    if (!token) return '-';
    let name = labels.get(token);
    if (!name) {
      name = `${token.startsWith('rt_') ? 'rt' : 'at'}${labels.size + 1}`;
      labels.set(token, name);
    }
    return name;
  };

  /**
   * What the client sees of an access token the server issued now, and what the answer
   * says of its lifetime. Returns the JWT's claims (none for opaque tokens).
   */
  const present = (body: Record<string, unknown>, bornExpired: boolean): Delivered['claims'] => {
    const opaque = body.access_token as string;
    const iat = Math.floor(Date.now() / 1000);
    const lifetime = bornExpired ? 0 : lifetimeS;
    let claims: Delivered['claims'];
    if (format === 'opaque' || format === 'jwt') {
      body.expires_in = lifetime;
      if (format === 'jwt') claims = { iat, exp: iat + lifetimeS };
    } else {
      delete body.expires_in;
      // Born expired: exp at issue (with iat), or already an hour past (exp only).
      claims = format === 'jwt-iat' ? { iat, exp: iat + lifetime } : { exp: bornExpired ? iat - 3600 : iat + lifetime };
    }
    if (claims) body.access_token = wrap(opaque, claims);
    return claims;
  };

  const deliver = (grant: Grant, accessToken: string, refreshToken: string, claims: Delivered['claims']) => {
    grant.delivered.push({ accessToken, refreshToken, ...(claims ? { claims } : {}) });
    grants.set(refreshToken, grant);
  };

  endpoint.server = server;
  endpoint.callTimes = callTimes;
  endpoint.grantOf = (refreshToken) => (refreshToken ? grants.get(refreshToken) : undefined);
  endpoint.revoke = (grant) => {
    grant.revoked = true;
    const any = grant.delivered[0];
    if (any) server.revoke(any.refreshToken);
  };
  endpoint.reached = (refreshToken, session) => {
    for (const rotation of rotations.values()) if (rotation.next === refreshToken) rotation.receivedBy.add(session);
  };
  endpoint.login = (group) => {
    const tokens = server.login();
    const grant: Grant = { id: nextGrant++, revoked: false, delivered: [] };
    const body: Record<string, unknown> = { ...tokens };
    const claims = present(body, false);
    deliver(grant, body.access_token as string, tokens.refresh_token, claims);
    void group;
    const expiresAt = body.expires_in === undefined ? undefined : Date.now() + (body.expires_in as number) * 1000;
    return { accessToken: body.access_token as string, refreshToken: tokens.refresh_token, ...(expiresAt === undefined ? {} : { expiresAt }), grant };
  };

  const token = http.post(testUrls.tokenEndpoint, async ({ request }) => {
    const form = new URLSearchParams(await request.text());
    const group = groupOf(form.get('client_id'));
    const presented = form.get('refresh_token') ?? '';
    (callTimes.get(group) ?? callTimes.set(group, []).get(group)!).push(options.elapsed());

    let fault = hooks.fault(group);
    // A refresh token already rotated away has no rotation left to lose: the server would
    // see a reuse, and its record would hide it under the fault's name.
    if ((fault === 'lostResponse' || fault === 'lateRotation') && rotations.has(presented)) fault = 'reset';
    if (fault) ledger.inject(FAULT_NAMES[fault]);
    ledger.trace(
      () =>
        `token call: ${group} (${hooks.caller(group)}) presents ${endpoint.label(presented)} of grant ${grants.get(presented)?.id}; fault ${fault ?? 'none'}`,
    );
    if (fault === 'hang') {
      // Never processed: the client gives up at refreshTimeoutMs and aborts.
      await new Promise<void>((resolve) => request.signal.addEventListener('abort', () => resolve(), { once: true }));
      return HttpResponse.error();
    }
    if (fault === 'unavailable') server.fault({ type: 'unavailable', ...(random.chance(0.5) ? { retryAfterSeconds: random.int(1, 3) } : {}) });
    if (fault === 'rateLimited') server.fault({ type: 'rateLimited', retryAfterSeconds: random.int(1, 5) });
    if (fault === 'reset') server.fault({ type: 'reset' });
    if (fault === 'lostResponse') server.fault({ type: 'lostResponse' });
    if (fault === 'slow') server.fault({ type: 'delay', ms: random.int(200, options.refreshTimeoutMs - 1_000) });
    if (fault === 'lateRotation') server.fault({ type: 'delay', ms: options.refreshTimeoutMs + random.int(100, 3_000) });
    if (fault === 'pushDuring') {
      server.fault({ type: 'delay', ms: random.int(300, 1_500) });
      setTimeout(() => hooks.pushDuring(group), random.int(50, 250));
    }

    // The invariant: a rotated-away refresh token is presented again only by a session that
    // could not know of the rotation: its refresher never received the new refresh token (a
    // lost response, an answer after it gave up), and its store never held it (a rotation by
    // another session whose write failed: documented).
    const rotation = rotations.get(presented);
    if (rotation) {
      const presenter = hooks.caller(group) ?? '?';
      const received = rotation.receivedBy.has(presenter);
      const stored = rotation.next !== null && hooks.storeEverHeld(group, rotation.next);
      const excused = !received && !stored;
      if (excused) ledger.excused++;
      ledger.check(
        'no rotated-away refresh token presented',
        excused
          ? null
          : `${presenter} presented a refresh token the server rotated away (grant ${grants.get(presented)?.id}), though ${received ? 'it had received the new one' : 'its store had held the new one'}`,
      );
    } else if (form.get('grant_type') === 'refresh_token') {
      ledger.check('no rotated-away refresh token presented', null);
    }

    const pending = server.token({ form, authorization: request.headers.get('authorization') }, (ms) => delay(ms));
    const record = server.calls[server.calls.length - 1]!;
    const reply = await pending;
    const grant = grants.get(presented);
    ledger.trace(
      () =>
        `token answer: ${group} ${endpoint.label(presented)} → ${record.outcome}${reply.kind === 'json' && reply.status === 200 ? ` ${endpoint.label(reply.body.refresh_token as string)}` : ''}${request.signal.aborted ? ' (client gone)' : ''}`,
    );
    if ((record.outcome === 'reuse-detected' || record.outcome === 'revoked') && grant) grant.revoked = true;
    const rotated = record.outcome === 'rotated' || record.outcome === 'fault:lostResponse';
    if (reply.kind === 'json' && reply.status === 200) {
      const body = { ...reply.body };
      const next = body.refresh_token as string;
      if (rotated) rotations.set(presented, { next, receivedBy: new Set() });
      if (request.signal.aborted) return HttpResponse.error();
      const claims = present(body, fault === 'bornExpired');
      if (grant) deliver(grant, body.access_token as string, next, claims);
      return HttpResponse.json(body, { status: 200, headers: reply.headers });
    }
    if (rotated) rotations.set(presented, { next: null, receivedBy: new Set() });
    return toResponse(reply);
  });

  const resource = http.all(`${testUrls.api}/*`, async ({ request }) => {
    const header = request.headers.get('authorization');
    const authorization = header?.startsWith('Bearer ') ? `Bearer ${unwrap(header.slice(7))}` : header;
    const latency = random.int(0, 3) === 0 ? random.int(1, 300) : 0;
    if (latency > 0) await delay(latency);
    const check = server.authenticate(authorization);
    return toResponse(resourceReply(check, { method: request.method, path: new URL(request.url).pathname }));
  });

  endpoint.handlers = [token, resource];
  return endpoint;
}

export { clientIdOf };
