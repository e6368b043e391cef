/**
 * An axios error that reaches the app holds no token anywhere `util.inspect` can reach:
 * network errors (refused connection, timeout) and HTTP errors (500, a 401 after the
 * replay), with the http and fetch adapters, on the oldest and newest axios of the peer
 * range. Real servers on 127.0.0.1.
 */
import type { AxiosError, AxiosStatic } from 'axios';
import axiosLatest from 'axios';
import axiosOldest from 'axios-1-7';
import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachAuth, SentRequest } from '../../adapters/axios/index.js';
import { ErrorCode, isAuthchartError } from '../../adapters/index.js';
import { closedPort, json, startHosts, type Hosts } from '../support/hosts.js';
import { findInInspectable } from '../support/inspectable.js';

const versions: [string, AxiosStatic][] = [
  [`axios ${axiosOldest.VERSION}`, axiosOldest as unknown as AxiosStatic],
  [`axios ${axiosLatest.VERSION}`, axiosLatest],
];

let hosts: Hosts;
let refused: number;
beforeAll(async () => {
  hosts = await startHosts((request, response) => {
    if (request.path === '/boom') return json(response, 500, { error: 'boom' });
    if (request.path === '/refused') return json(response, 401, { error: 'invalid_token' });
    if (request.path === '/slow') return; // never answers: the client times out
    json(response, 200, { ok: true });
  });
  refused = await closedPort();
});
afterAll(() => hosts.close());

function client(axios: AxiosStatic, adapter: 'http' | 'fetch', origin: string) {
  const secrets = [`at_${randomUUID()}`, `at_${randomUUID()}`];
  const instance = axios.create({ adapter, baseURL: origin, timeout: 1_000 });
  const auth = attachAuth(instance, {
    refresh: async () => ({ accessToken: secrets[1]!, refreshToken: `rt_${randomUUID()}` }),
    allowedOrigins: [origin],
    tokens: { accessToken: secrets[0]!, refreshToken: `rt_${randomUUID()}` },
    debounceMs: 0,
  });
  return { instance, auth, secrets };
}

/** Where the secrets are, in everything printable from the error, and in what console.error and toJSON print. */
function leaks(error: unknown, secrets: string[]) {
  const found = secrets.flatMap((secret) => findInInspectable(error, secret).paths);
  const printed = [
    inspect(error),
    inspect(error, { depth: Infinity, showHidden: true, getters: true }),
    JSON.stringify((error as { toJSON?: () => unknown }).toJSON?.() ?? null),
  ].join('\n');
  return { found, printed: secrets.filter((secret) => printed.includes(secret)) };
}

describe.each(versions)('%s', (_name, axios) => {
  describe.each(['http', 'fetch'] as const)('with the %s adapter, an error that reaches the app holds no token', (adapter) => {
    const failures: [string, () => { origin: string; path: string }, (error: unknown) => void][] = [
      [
        'a refused connection',
        () => ({ origin: `http://127.0.0.1:${refused}`, path: '/x' }),
        (error) => expect((error as AxiosError).response).toBeUndefined(),
      ],
      ['a timeout', () => ({ origin: hosts.url('127.0.0.1').slice(0, -1), path: '/slow' }), (error) => expect((error as AxiosError).response).toBeUndefined()],
      ['a 500', () => ({ origin: hosts.url('127.0.0.1').slice(0, -1), path: '/boom' }), (error) => expect((error as AxiosError).response?.status).toBe(500)],
      [
        'a 401 after the replay',
        () => ({ origin: hosts.url('127.0.0.1').slice(0, -1), path: '/refused' }),
        (error) => {
          expect(isAuthchartError(error, ErrorCode.UNAUTHORIZED_AFTER_REFRESH)).toBe(true);
          expect(((error as Error).cause as AxiosError).response?.status).toBe(401);
        },
      ],
    ];

    it.each(failures)('%s', async (_failure, where, expectShape) => {
      const { origin, path } = where();
      const { instance, auth, secrets } = client(axios, adapter, origin);
      const error = await instance.get(path).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeDefined();
      expectShape(error);
      const axiosError = (isAuthchartError(error) ? (error as Error).cause : error) as AxiosError;
      // The request is still described, as a detached copy.
      expect(axiosError.request).toBeInstanceOf(SentRequest);
      expect(axiosError.request).toMatchObject({ method: 'GET', url: `${origin}${path}` });
      expect(leaks(error, secrets)).toEqual({ found: [], printed: [] });
      await auth.dispose();
    });
  });
});
