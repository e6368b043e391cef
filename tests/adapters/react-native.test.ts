/**
 * `authchart/react-native` against faithful fakes of Expo SecureStore and React Native's
 * AppState (tests/support/react-native-fakes.ts; there is no device here).
 */
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { createSession, type StoredTokens } from '../../adapters/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import { testUrls } from '../../adapters/testing/index.js';
import { appStateWake, secureStore } from '../../adapters/react-native/index.js';
import { describeTokenStoreContract } from '../support/contract/token-store.js';
import { createHarness, useMockNetwork } from '../support/harness.js';
import { fakeAppState, fakeSecureStore, SECURE_STORE_VALUE_LIMIT } from '../support/react-native-fakes.js';

describeTokenStoreContract({
  name: 'secureStore (fake Expo SecureStore, records in one value)',
  async create() {
    const secure = fakeSecureStore({ maxDelayMs: 2 });
    return {
      store: secureStore(secure, { key: 'app.tokens' }),
      peer: secureStore(secure, { key: 'app.tokens' }),
      other: secureStore(secure, { key: 'other.tokens' }),
    };
  },
});

describeTokenStoreContract({
  name: 'secureStore (fake Expo SecureStore, every record split into chunks)',
  async create() {
    const secure = fakeSecureStore({ maxDelayMs: 2 });
    // The contract's records (about 100 bytes) do not fit with the manifest in 128 bytes.
    const options = { maxValueBytes: 128 };
    return {
      store: secureStore(secure, { key: 'app.tokens', ...options }),
      peer: secureStore(secure, { key: 'app.tokens', ...options }),
      other: secureStore(secure, { key: 'other.tokens', ...options }),
    };
  },
});

/** A token set the size real ones reach: a 5 KB JWT-like access token and a 3 KB refresh token, with non-ASCII. */
function large(n: number) {
  const body = (size: number, seed: string) => Array.from({ length: size }, (_, i) => seed[(i * 7 + n) % seed.length]).join('');
  return {
    accessToken: `eyJ${body(5000, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_')}.${n}`,
    refreshToken: `rt-${n}-${body(3000, '0123456789abcdefé€😀')}`,
    expiresAt: 1_900_000_000_000 + n,
  };
}

describe('secureStore: records larger than a SecureStore value', () => {
  it('a 8 KB record is split into values of at most 2048 bytes and reads back whole', async () => {
    const secure = fakeSecureStore({ maxDelayMs: 1 });
    const store = secureStore(secure);
    const written = await store.set(large(1));
    expect(await store.get()).toEqual(written);
    expect(written).toEqual({ ...large(1), version: expect.any(Number) });
    expect(secure.items.size).toBeGreaterThanOrEqual(5);
    expect(secure.largestValue).toBeLessThanOrEqual(SECURE_STORE_VALUE_LIMIT);
    expect([...secure.items.keys()].every((key) => key.startsWith('authchart.tokens'))).toBe(true);
  });

  it('a new record leaves no chunk of the old one behind, and clear leaves nothing but the version counter', async () => {
    const secure = fakeSecureStore();
    const store = secureStore(secure);
    const kept = new Set(['authchart.tokens', 'authchart.tokens.version']);
    await store.set(large(1));
    const firstKeys = new Set(secure.items.keys());
    await store.set(large(2));
    const secondKeys = [...secure.items.keys()];
    expect(secondKeys.filter((key) => !kept.has(key) && firstKeys.has(key))).toEqual([]);
    await store.set({ accessToken: 'small', refreshToken: 'small' });
    expect([...secure.items.keys()].sort()).toEqual([...kept].sort());
    await store.set(large(3));
    await store.clear();
    // The counter holds no secret: only the last version number, so versions keep increasing.
    expect([...secure.items.keys()]).toEqual(['authchart.tokens.version']);
    expect(await store.get()).toBeNull();
  });

  it('a reader in another process never sees half a record: reads during 25 writes of 8 KB records', async () => {
    const secure = fakeSecureStore({ maxDelayMs: 2 });
    const writer = secureStore(secure);
    const reader = secureStore(secure.otherProcess());
    const written = new Map<number, StoredTokens>();
    const first = await writer.set(large(0));
    written.set(first!.version, first!);

    let writing = true;
    const writes = (async () => {
      for (let n = 1; n <= 25; n++) {
        const record = await writer.set(large(n));
        written.set(record!.version, record!);
      }
      writing = false;
    })();
    const seen: (StoredTokens | null)[] = [];
    while (writing && seen.length < 5000) seen.push(await reader.get());
    await writes;
    const versions = seen.map((record) => record?.version);
    console.log(
      `[react-native] ${seen.length} reads in another process during 25 writes: ${new Set(versions).size} distinct records seen, ${seen.filter((r) => r === null).length} null, all whole: ${seen.every((r) => r !== null && isDeepStrictEqual(r, written.get(r.version)))}`,
    );
    expect(seen.every((record) => record !== null)).toBe(true);
    for (const record of seen) expect(record).toEqual(written.get(record!.version));
    // Reads overlapped writes: more than one version was seen, in order.
    expect(new Set(versions).size).toBeGreaterThan(5);
    expect(versions).toEqual([...versions].sort((a, b) => a! - b!));
  });

  it('of 10 concurrent compare-and-sets of 8 KB records on one version, exactly one wins, and it is what reads back', async () => {
    const secure = fakeSecureStore({ maxDelayMs: 2 });
    const handles = Array.from({ length: 10 }, () => secureStore(secure));
    const base = await handles[0]!.set(large(0));
    const results = await Promise.all(handles.map((store, i) => store.set(large(i + 1), { expectedVersion: base!.version })));
    const winners = results.filter((r) => r !== null);
    expect(winners).toHaveLength(1);
    expect(await handles[3]!.get()).toEqual(winners[0]);
  });

  it('corrupt or foreign data reads as no tokens; a SecureStore that fails rejects (unavailable is not logged out)', async () => {
    const secure = fakeSecureStore();
    await secure.setItemAsync('authchart.tokens', '{"format":1,"version":3,"generation":"g1","chunks":2,"bytes":10}');
    await secure.setItemAsync('authchart.tokens.g1.0', 'half');
    const store = secureStore(secure);
    expect(await store.get()).toBeNull();
    await secure.setItemAsync('authchart.tokens', 'not json');
    expect(await store.get()).toBeNull();
    secure.failing = true;
    await expect(store.get()).rejects.toThrow(/keychain/);
  });

  it('a key SecureStore would refuse is refused at once, saying what is allowed', () => {
    expect(() => secureStore(fakeSecureStore(), { key: 'auth tokens' })).toThrow(/letters, digits, "\.", "-" and "_"/);
  });
});

describe('appStateWake', () => {
  useMockNetwork();
  const HOUR = 3600_000;

  it('coming back to the foreground after the refresh time refreshes at once; going to the background does not', async () => {
    const appState = fakeAppState('active');
    const { server, authFetch, api } = await createHarness({ server: { accessTokenTtlSeconds: 3600 }, client: { wake: appStateWake(appState) } });
    // In use (a request since the last refresh), so it refreshes ahead of expiry (R13).
    expect((await authFetch(api('/me'))).status).toBe(200);
    appState.go('background');
    // The phone suspended the app for two hours: no timer fired.
    vi.setSystemTime(Date.now() + 2 * HOUR);
    appState.go('inactive');
    await vi.advanceTimersByTimeAsync(1);
    expect(server.stats.refreshCalls).toBe(0);
    appState.go('active');
    await vi.advanceTimersByTimeAsync(1);
    expect(server.stats.refreshCalls).toBe(1);
    await authFetch.dispose();
    expect(appState.listeners).toBe(0);
  });

  it('active → active is no resume; a resume before the refresh time only re-arms the timer', async () => {
    const appState = fakeAppState('active');
    const { server, authFetch, api } = await createHarness({ server: { accessTokenTtlSeconds: 3600 }, client: { wake: appStateWake(appState) } });
    expect((await authFetch(api('/me'))).status).toBe(200);
    await vi.advanceTimersByTimeAsync(60_000);
    appState.go('active');
    appState.go('background');
    appState.go('active');
    await vi.advanceTimersByTimeAsync(1);
    expect(server.stats.refreshCalls).toBe(0);
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(server.stats.refreshCalls).toBe(1);
  });

  it('a session on SecureStore and AppState, started again after a night: it adopts the stored tokens and makes one token call', async () => {
    const appState = fakeAppState('background');
    const secure = fakeSecureStore();
    const { server, authFetch, api } = await createHarness({
      server: { accessTokenTtlSeconds: 3600 },
      client: { store: secureStore(secure), wake: appStateWake(appState) },
    });
    expect((await authFetch(api('/me'))).status).toBe(200);
    await authFetch.dispose();

    // The app was killed overnight; the OS starts it again, then the user opens it.
    vi.setSystemTime(Date.now() + 10 * HOUR);
    const session = createSession({
      refresh: oauthRefresher({ tokenEndpoint: testUrls.tokenEndpoint, clientId: 'authchart-tests' }),
      store: secureStore(secure),
      wake: appStateWake(appState),
    });
    await vi.advanceTimersByTimeAsync(1);
    appState.go('active');
    await vi.advanceTimersByTimeAsync(1);
    // Not used since it started, so the resume alone calls nobody (R13); the first request refreshes once.
    expect(server.stats.refreshCalls).toBe(0);
    const tokens = await Promise.all([session.getAccessToken(), session.getAccessToken()]);
    expect(tokens[0]).toBe(tokens[1]);
    expect(server.stats.refreshCalls).toBe(1);
    expect(session.getStatus()).toMatchObject({ status: 'authenticated', hasRefreshToken: true });
    await session.dispose();
  });
});
