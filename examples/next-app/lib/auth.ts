/**
 * The one place the example configures authchart. Which storage is chosen by environment
 * variables so that one build runs in every mode:
 *
 * - AUTHCHART_STORAGE=session (default): a random session id in the cookie, tokens on the
 *   server: in memory, or in Redis when REDIS_URL is set (several instances).
 * - AUTHCHART_STORAGE=cookie: tokens sealed in an httpOnly cookie; rotation results shared
 *   in process, and in Redis when REDIS_URL is set.
 */
import { createClient } from 'redis';
import { createNextAuth, createSessionManager, memoryStores } from 'authchart/next';
import { oauthRefresher } from 'authchart/oauth';
import { redisRotationCache, redisSessionManager } from 'authchart/redis';

/** The demo token server and API that `run.ts` starts (the tests start their own). */
export const TOKEN_ENDPOINT = process.env.TOKEN_ENDPOINT ?? 'http://127.0.0.1:4010/oauth/token';
export const API_URL = process.env.API_URL ?? 'http://127.0.0.1:4011/api';
export const STORAGE = process.env.AUTHCHART_STORAGE === 'cookie' ? 'cookie' : 'session';
export const SHARED = Boolean(process.env.REDIS_URL);

// Example only: a real app reads a 32+ character secret from its environment, never a default.
const DEV_SECRET = 'authchart-next-example-secret-not-for-production';

const refresh = oauthRefresher({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'next-example' });

/** Two connections to Redis: commands, and pub/sub (other instances hear of new tokens at once). */
async function connectRedis() {
  const client = createClient({ url: process.env.REDIS_URL });
  client.on('error', (error) => console.error('[redis]', error.message));
  await client.connect();
  const subscriber = client.duplicate();
  subscriber.on('error', (error) => console.error('[redis]', error.message));
  await subscriber.connect();
  return { client, subscriber };
}

// On a server, refresh on use: a request after the expiry refreshes (once, for all of
// them); an idle session makes no token call.
const session = { proactive: false } as const;

export const auth = createNextAuth({
  storage:
    STORAGE === 'cookie'
      ? {
          type: 'cookie',
          secret: process.env.AUTH_SECRET ?? DEV_SECRET,
          refresh,
          shared: SHARED ? async () => redisRotationCache(await connectRedis()) : undefined,
          // Rotate this long before the expiry (at most half the token's lifetime). The
          // tests shorten it: their access tokens live 3 seconds.
          leewayMs: Number(process.env.AUTHCHART_LEEWAY_MS ?? 10_000),
        }
      : {
          type: 'session',
          sessions: SHARED
            ? async () => redisSessionManager({ ...(await connectRedis()), refresh, session })
            : () => createSessionManager({ refresh, store: memoryStores(), session }),
        },
  allowedOrigins: [new URL(API_URL).origin],
});

/** Sign-in for the demo: a password grant at the demo token server (your app: its OAuth code flow). */
export async function passwordGrant(username: string) {
  const response = await fetch(TOKEN_ENDPOINT, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username, password: 'demo', client_id: 'next-example' }),
    cache: 'no-store',
  });
  if (!response.ok) throw new Error(`The token endpoint refused the sign-in (${response.status}).`);
  const body = (await response.json()) as { access_token: string; refresh_token: string; expires_in: number };
  return { accessToken: body.access_token, refreshToken: body.refresh_token, expiresAt: Date.now() + body.expires_in * 1000 };
}

/** The widgets of the dashboard: each one is an API call. */
export const WIDGETS = ['revenue', 'orders', 'customers', 'latency'] as const;
