/**
 * Backend-for-frontend with Express 5: the browser holds only an httpOnly session cookie;
 * its API calls go to /bff/*, which this server forwards to the API with the user's bearer
 * token, refreshed by authchart (one refresh per expiry, however many calls and instances).
 *
 * `npm run example:express-bff`, then open http://127.0.0.1:3001. Environment:
 *   TOKEN_ENDPOINT, API_URL   your authorization server and API (default: the demo's, started here)
 *   REDIS_URL                 share sessions between instances (default: memory, one instance)
 *   PORT                      default 3001 (0: any free port)
 */
import { fileURLToPath } from 'node:url';
import express from 'express';
import { createClient } from 'redis';
import { oauthRefresher } from 'authchart/oauth';
import { redisSessionManager } from 'authchart/redis';
import { createSessionManager, expressAuth, memoryStores } from 'authchart/server';
import { createTokenServer, startTestServers } from 'authchart/testing/node';

let tokenEndpoint = process.env.TOKEN_ENDPOINT;
let apiUrl = process.env.API_URL;
if (!tokenEndpoint || !apiUrl) {
  // Demo only: a rotating token server (strict reuse detection) and an API on 127.0.0.1.
  const demo = await startTestServers(createTokenServer({ accessTokenTtlSeconds: Number(process.env.ACCESS_TOKEN_TTL ?? 30) }));
  tokenEndpoint = demo.tokenEndpoint;
  apiUrl = demo.api;
}

const refresh = oauthRefresher({ tokenEndpoint, clientId: 'express-bff' });
// On a server, refresh on use: the first request after an expiry refreshes, once for all.
const session = { proactive: false } as const;

async function sessionManager() {
  if (!process.env.REDIS_URL) return createSessionManager({ refresh, store: memoryStores(), session });
  const client = createClient({ url: process.env.REDIS_URL });
  client.on('error', (error) => console.error('[redis]', error.message));
  await client.connect();
  const subscriber = client.duplicate();
  subscriber.on('error', (error) => console.error('[redis]', error.message));
  await subscriber.connect();
  return redisSessionManager({ client, subscriber, refresh, session });
}

const auth = expressAuth({ sessions: await sessionManager() });
const app = express();
app.disable('x-powered-by');

// The backend-for-frontend: /bff/<path> → <API>/<path>, with the bearer token, after the
// cross-site check. Mounted before any body parser: bodies are forwarded as they came.
app.use('/bff', auth.proxy({ upstream: apiUrl }));

// Sign-in. Your app: the end of its OAuth authorization-code flow. The demo: a password grant.
app.post('/login', auth.csrf(), express.urlencoded({ extended: false }), async (req, res) => {
  const response = await fetch(tokenEndpoint!, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: String(req.body?.username || 'ada'), password: 'demo', client_id: 'express-bff' }),
  });
  if (!response.ok) {
    res.status(502).send('The token endpoint refused the sign-in.');
    return;
  }
  const body = (await response.json()) as { access_token: string; refresh_token: string; expires_in: number };
  await auth.login(res, { accessToken: body.access_token, refreshToken: body.refresh_token, expiresAt: Date.now() + body.expires_in * 1000 });
  res.redirect(303, '/');
});

app.post('/logout', auth.csrf(), async (req, res) => {
  await auth.logout(req, res);
  res.redirect(303, '/');
});

app.use(express.static(fileURLToPath(new URL('public', import.meta.url))));

const server = app.listen(Number(process.env.PORT ?? 3001), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  console.log(`express-bff listening on http://127.0.0.1:${port}`);
});
