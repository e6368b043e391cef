/**
 * Express-style middleware that puts a valid upstream access token on `req` (for a server
 * that calls an API on its users' behalf, say Spotify). A plain `(req, res, next)` function:
 * it works with Express, Connect, or node:http as is.
 *
 * In your app, import from the package: `authchart` and `authchart/redis`.
 * @example
 * import express from 'express'
 * import { createClient } from 'redis'
 * import { oauthRefresher } from 'authchart/oauth'
 * import { redisSessionManager } from 'authchart/redis'
 *
 * const client = await createClient({ url: process.env.REDIS_URL }).on('error', console.error).connect()
 * const subscriber = await client.duplicate().connect()
 * const sessions = redisSessionManager({
 *   client,
 *   subscriber,
 *   refresh: oauthRefresher({ tokenEndpoint: 'https://accounts.spotify.com/api/token', clientId, clientSecret }),
 * })
 * const app = express()
 * app.use(session(...)) // your own sessions; authchart needs only their id
 * app.use('/api', ensureValidToken({ sessions, getSessionId: (req) => req.session?.id }))
 * app.get('/api/me', async (req, res) => {
 *   const upstream = await fetch('https://api.spotify.com/v1/me', { headers: { authorization: `Bearer ${req.upstreamToken}` } })
 *   res.status(upstream.status).json(await upstream.json())
 * })
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAuthchartError } from '../adapters/core/errors.js';
import type { SessionManager } from '../adapters/server/session-manager.js';

export interface EnsureValidTokenOptions<Req extends IncomingMessage> {
  /** The session manager (`redisSessionManager(...)` or `createSessionManager(...)`). */
  sessions: SessionManager;
  /** Your session id for this request (a cookie, `req.session.id`); null or undefined when signed out. */
  getSessionId: (req: Req) => string | null | undefined;
  /**
   * The property of `req` that receives the access token.
   * @default 'upstreamToken'
   */
  property?: string;
}

function reply(res: ServerResponse, status: number, body: Record<string, string>, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * Attach a valid access token to `req[property]`, refreshed first if needed (one refresh per
 * expiry across every request and instance). Signed out or session ended: 401. Redis or the
 * token endpoint unavailable: 503 with `Retry-After`. The error bodies carry a code only.
 */
export function ensureValidToken<Req extends IncomingMessage>(options: EnsureValidTokenOptions<Req>) {
  const property = options.property ?? 'upstreamToken';
  return (req: Req, res: ServerResponse, next: (error?: unknown) => void): void => {
    const sessionId = options.getSessionId(req);
    if (!sessionId) {
      reply(res, 401, { error: 'not_signed_in' });
      return;
    }
    // A client that goes away stops waiting for a refresh (the refresh itself goes on).
    const controller = new AbortController();
    const onClose = () => {
      if (!res.writableEnded) controller.abort();
    };
    res.once('close', onClose);
    options.sessions.getValidAccessToken(sessionId, { signal: controller.signal }).then(
      (token) => {
        res.off('close', onClose);
        (req as unknown as Record<string, unknown>)[property] = token;
        next();
      },
      (error: unknown) => {
        res.off('close', onClose);
        if (controller.signal.aborted) return;
        if (isAuthchartError(error, 'SESSION_EXPIRED')) reply(res, 401, { error: 'session_expired' });
        else if (isAuthchartError(error)) reply(res, 503, { error: error.code }, { 'retry-after': '1' });
        else next(error);
      },
    );
  };
}
