import { createAuthFetch } from 'authchart/fetch';
import { oauthRefresher } from 'authchart/oauth';
import { sharedSession } from 'authchart/react';
import { config } from './config';

/**
 * The app's one session, created outside React. `sharedSession` keeps it across hot
 * reloads of this module, so editing the app neither signs you out nor starts a second
 * refresher.
 */
export const authFetch = sharedSession('react-dashboard', () =>
  createAuthFetch({
    refresh: oauthRefresher({ tokenEndpoint: config.tokenEndpoint, clientId: config.clientId }),
    allowedOrigins: [config.apiOrigin],
  }),
);

export const apiUrl = (path: string) => `${config.api}${path}`;

/** The demo's sign-in: the token server's password grant, then `login`. No token is kept anywhere else. */
export async function signIn(): Promise<void> {
  const response = await fetch(config.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: 'demo', password: 'demo', client_id: config.clientId }),
  });
  if (!response.ok) throw new Error(`Sign-in failed: HTTP ${response.status}`);
  const body = (await response.json()) as { access_token: string; refresh_token: string; expires_in: number };
  await authFetch.login({ accessToken: body.access_token, refreshToken: body.refresh_token, expiresAt: Date.now() + body.expires_in * 1000 });
}
