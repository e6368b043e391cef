/**
 * What the peers keep their tokens in: `localStorage`, as the patterns they reproduce do.
 * In Node it is this in-memory `Storage`; several clients given the same instance share it
 * as tabs share `localStorage` (every tab sees every write at once).
 */
export class MemoryStorage implements Storage {
  private readonly map = new Map<string, string>();
  get length(): number {
    return this.map.size;
  }
  clear(): void {
    this.map.clear();
  }
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  key(index: number): string | null {
    return [...this.map.keys()][index] ?? null;
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
  setItem(key: string, value: string): void {
    this.map.set(key, String(value));
  }
}

/** The keys the peers use, as the tutorials they follow name them. */
export const ACCESS_TOKEN = 'access_token';
export const REFRESH_TOKEN = 'refresh_token';

/** What every peer is given. */
export interface PeerOptions {
  /** OAuth token endpoint (refresh_token grant, form-encoded). */
  tokenEndpoint: string;
  clientId: string;
  /** Where tokens live; "logging out" clears them. */
  storage: Storage;
}

/** The refresh_token grant body the peers post (RFC 6749 §6, public client). */
export function refreshForm(options: PeerOptions, refreshToken: string): URLSearchParams {
  return new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: options.clientId });
}

/** "Log the user out", as the peers do on a failed refresh: forget the tokens. */
export function logout(storage: Storage): void {
  storage.removeItem(ACCESS_TOKEN);
  storage.removeItem(REFRESH_TOKEN);
}

/** Store a token response; a missing refresh_token keeps the old one. */
export function saveTokens(storage: Storage, body: { access_token: string; refresh_token?: string }): void {
  storage.setItem(ACCESS_TOKEN, body.access_token);
  if (body.refresh_token) storage.setItem(REFRESH_TOKEN, body.refresh_token);
}

/**
 * The refresh every fetch peer does: post the stored refresh token, store what comes back,
 * and "log out" when the server refuses. Only when and how often they call it differs.
 */
export async function refreshWithFetch(options: PeerOptions & { fetch: typeof fetch }): Promise<string> {
  const { storage } = options;
  const refreshToken = storage.getItem(REFRESH_TOKEN);
  if (!refreshToken) throw new Error('logged out');
  const response = await options.fetch(options.tokenEndpoint, { method: 'POST', body: refreshForm(options, refreshToken) });
  if (!response.ok) {
    logout(storage);
    throw new Error(`refresh failed: HTTP ${response.status}`);
  }
  const body = (await response.json()) as { access_token: string; refresh_token?: string };
  saveTokens(storage, body);
  return body.access_token;
}
