import ky from 'ky';
import createClient from 'openapi-fetch';
import { describe, expect, it, vi } from 'vitest';
import { createHarness, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

describe('authFetch as the fetch of other clients', () => {
  it('ky: 20 concurrent calls after expiry, one token call, JSON bodies replayed intact', async () => {
    const { server, authFetch, api } = await createHarness();
    const client = ky.create({ fetch: authFetch, retry: 0 });
    server.expireAccessTokens();
    const calls = Promise.all(Array.from({ length: 20 }, (_, i) => client.post(api(`/orders/${i}`), { json: { order: i } }).json<{ body: string }>()));
    await vi.advanceTimersByTimeAsync(300);
    const bodies = await calls;
    expect(bodies.map((b) => JSON.parse(b.body).order)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(server.stats.refreshCalls).toBe(1);
  });

  it('openapi-fetch: GET and POST through the client, one token call', async () => {
    const { server, authFetch, api } = await createHarness();
    type Paths = {
      '/items/{id}': { get: { parameters: { path: { id: string } }; responses: { 200: { content: { 'application/json': { path: string } } } } } };
      '/items': {
        post: { requestBody: { content: { 'application/json': { name: string } } }; responses: { 200: { content: { 'application/json': { body: string } } } } };
      };
    };
    const client = createClient<Paths>({ baseUrl: api(''), fetch: authFetch });
    server.expireAccessTokens();
    const get = track(client.GET('/items/{id}', { params: { path: { id: '42' } } }));
    const post = track(client.POST('/items', { body: { name: 'widget' } }));
    await vi.advanceTimersByTimeAsync(300);
    expect((get.value as { data: { path: string } }).data.path).toBe('/api/items/42');
    expect(JSON.parse((post.value as { data: { body: string } }).data.body)).toEqual({ name: 'widget' });
    expect(server.stats.refreshCalls).toBe(1);
  });
});
