import { Dashboard } from '../dashboard';

export const dynamic = 'force-dynamic';

/**
 * Outside the proxy's matcher: with tokens in a cookie, the Server Components here rotate
 * expired tokens themselves and cannot write the cookie; the next request that passes the
 * proxy (or a route handler) gets the rotation's result with the old cookie and writes it.
 */
export default function Direct() {
  return <Dashboard title="Without the proxy" />;
}
