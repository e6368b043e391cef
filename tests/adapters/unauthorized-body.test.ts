/**
 * `isUnauthorized` may read the body: a GraphQL server on 127.0.0.1 answers an expired
 * token with HTTP 200 and an `UNAUTHENTICATED` error. Ten queries after expiry make one
 * token call, every query gets its data, and the app still reads the body.
 */
import type { AxiosResponse } from 'axios';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachAuth } from '../../adapters/axios/index.js';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { json, startHosts, type Hosts } from '../support/hosts.js';

interface GraphQLBody {
  data?: { me: { token: string } } | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

let hosts: Hosts;
let valid = 'at_1';
let issued = 1;
beforeAll(async () => {
  hosts = await startHosts((request, response) => {
    if (request.authorization !== `Bearer ${valid}`) {
      return json(response, 200, { data: null, errors: [{ message: 'token expired', extensions: { code: 'UNAUTHENTICATED' } }] });
    }
    json(response, 200, { data: { me: { token: valid } } });
  });
});
afterAll(() => hosts.close());

function server() {
  valid = `at_${++issued}`;
  const calls = { refresh: 0 };
  const first = valid;
  const refresh = async () => {
    calls.refresh++;
    valid = `at_${++issued}`;
    return { accessToken: valid, refreshToken: 'rt' };
  };
  /** The token the client holds expires on the server. */
  const expire = () => {
    valid = `at_${++issued}`;
  };
  return { calls, refresh, expire, first };
}

const graphql = () => hosts.url('127.0.0.1', '/graphql');
const query = JSON.stringify({ query: '{ me { token } }' });

describe('fetch: an async isUnauthorized that reads a clone of the body', () => {
  const isUnauthorized = async (response: Response) =>
    response.status === 401 || ((await response.clone().json()) as GraphQLBody).errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED') === true;

  it('ten GraphQL queries after expiry: one token call, ten answers with data, bodies intact', async () => {
    const { calls, refresh, expire, first } = server();
    const authFetch = createAuthFetch({
      refresh,
      allowedOrigins: [hosts.url('127.0.0.1', '')],
      tokens: { accessToken: first, refreshToken: 'rt' },
      isUnauthorized,
    });
    expire();
    const bodies = await Promise.all(
      Array.from({ length: 10 }, () =>
        authFetch(graphql(), { method: 'POST', body: query, headers: { 'content-type': 'application/json' } }).then((r) => r.json() as Promise<GraphQLBody>),
      ),
    );
    expect(calls.refresh).toBe(1);
    expect(bodies.map((b) => b.data?.me.token)).toEqual(Array(10).fill(valid));
    await authFetch.dispose();
  });

  it('a sync predicate still answers without reading anything', async () => {
    const { refresh, first } = server();
    const authFetch = createAuthFetch({ refresh, allowedOrigins: [hosts.url('127.0.0.1', '')], tokens: { accessToken: first, refreshToken: 'rt' } });
    const response = await authFetch(graphql(), { method: 'POST', body: query });
    expect(response.bodyUsed).toBe(false);
    expect(((await response.json()) as GraphQLBody).data?.me.token).toBe(first);
    await authFetch.dispose();
  });
});

describe('axios: an async isUnauthorized over the parsed response', () => {
  it('ten GraphQL queries after expiry: one token call, ten answers with data', async () => {
    const { calls, refresh, expire, first } = server();
    const instance = axios.create({ baseURL: hosts.url('127.0.0.1', '') });
    const auth = attachAuth(instance, {
      refresh,
      allowedOrigins: [hosts.url('127.0.0.1', '')],
      tokens: { accessToken: first, refreshToken: 'rt' },
      isUnauthorized: async (response: AxiosResponse<GraphQLBody>) =>
        response.status === 401 || response.data?.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED') === true,
    });
    expire();
    const answers = await Promise.all(Array.from({ length: 10 }, () => instance.post<GraphQLBody>('/graphql', { query: '{ me { token } }' })));
    expect(calls.refresh).toBe(1);
    expect(answers.map((a) => a.data.data?.me.token)).toEqual(Array(10).fill(valid));
    await auth.dispose();
  });
});
