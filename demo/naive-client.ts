/**
 * The client from the incident reports: every 401 refreshes on its own, and a failed
 * refresh logs the user out. Kept here only to show what authchart replaces.
 */
export interface NaiveResult {
  ok: number;
  failed: number;
  loggedOut: boolean;
}

export function createNaiveClient(options: { tokenEndpoint: string; clientId: string; tokens: { accessToken: string; refreshToken: string } }) {
  let tokens: { accessToken: string; refreshToken: string } | null = { ...options.tokens };

  async function refresh(): Promise<boolean> {
    if (!tokens) return false;
    const response = await fetch(options.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refreshToken, client_id: options.clientId }),
    });
    if (!response.ok) {
      tokens = null; // "Refresh token revoked": log the user out.
      return false;
    }
    const body = (await response.json()) as { access_token: string; refresh_token?: string };
    if (tokens) tokens = { accessToken: body.access_token, refreshToken: body.refresh_token ?? tokens.refreshToken };
    return true;
  }

  async function request(url: string): Promise<Response> {
    if (!tokens) throw new Error('logged out');
    const send = () => fetch(url, { headers: { authorization: `Bearer ${tokens?.accessToken ?? ''}` } });
    const response = await send();
    if (response.status !== 401) return response;
    if (!(await refresh())) throw new Error('logged out');
    return send();
  }

  return {
    request,
    get loggedOut() {
      return tokens === null;
    },
    get refreshToken() {
      return tokens?.refreshToken;
    },
  };
}
