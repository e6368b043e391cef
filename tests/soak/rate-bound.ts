/** The token-call rate a calm segment may show (docs/soak.md, "token calls per hour within the bound"). */
import { OPTIONS } from './sessions.js';

/**
 * Token calls a group may make in a calm window of `windowMs` (see docs/soak.md).
 * `offsetMs`: how far ahead of the clock that stamped an expiry a session's clock is (the
 * server's, for an absolute JWT `exp`; another instance's, for an expiry read from a store
 * shared across clocks). Such a session perceives a lifetime shorter by that much.
 */
export function rateBound(options: { windowMs: number; lifetimeMs: number; busy: boolean; keepAlive: boolean; offsetMs: number }): number {
  const { windowMs, lifetimeMs, busy, keepAlive, offsetMs } = options;
  const floor = OPTIONS.minRefreshIntervalMs;
  // The proactive schedule: leewayMs before expiry, never before half the lifetime, never sooner than the floor.
  const proactive = (lifetime: number) => Math.max(lifetime - Math.min(OPTIONS.leewayMs, lifetime / 2), floor);
  const perceived = lifetimeMs - Math.max(0, offsetMs);
  let period: number;
  if (!busy && !keepAlive) period = lifetimeMs;
  else if (perceived <= 0) {
    // Born expired where it arrives: used until a 401, one call per lifetime. But an expiry
    // read from a store shared with an instance whose clock is behind by more than a lifetime
    // looks past on arrival: the instance ahead refreshes the still valid token at once, so
    // each expiry costs two calls (a known limit: the stored expiry is an absolute time).
    return 2 * (Math.floor(windowMs / lifetimeMs) + 1);
  } else {
    const own = busy ? Math.min(perceived, proactive(perceived)) : proactive(perceived);
    // Never sooner than the floor, unless the token really lives less than the floor.
    period = Math.max(own, Math.min(lifetimeMs, floor));
  }
  return Math.floor(windowMs / Math.max(period, 1)) + 1;
}
