/** Real Redis connections for the suites: node-redis and ioredis, each with a subscriber. */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll } from 'vitest';
import type { RedisClientLike, RedisSubscriberLike } from '../../../adapters/redis/client.js';
import { startRedisServer, type RedisServer } from '../../support/redis-server.js';

export type ClientKind = 'node-redis' | 'ioredis';
export const clientKinds: ClientKind[] = ['node-redis', 'ioredis'];

export interface Connection {
  kind: ClientKind;
  client: RedisClientLike;
  subscriber: RedisSubscriberLike;
  /** A raw command on the command connection (for tests that inspect or corrupt keys). */
  raw(...args: string[]): Promise<unknown>;
  close(): Promise<void>;
}

export async function connect(kind: ClientKind, url: string, options: { reconnect?: boolean } = {}): Promise<Connection> {
  if (kind === 'node-redis') {
    const client = createClient({ url, socket: { reconnectStrategy: (retries: number) => Math.min(50 + retries * 20, 200) } });
    client.on('error', () => undefined);
    await client.connect();
    const subscriber = client.duplicate();
    subscriber.on('error', () => undefined);
    await subscriber.connect();
    return {
      kind,
      client,
      subscriber,
      raw: (...args) => client.sendCommand(args),
      close: async () => {
        client.destroy();
        subscriber.destroy();
      },
    };
  }
  const client = new Redis(url, {
    retryStrategy: (times: number) => Math.min(50 + times * 20, 200),
    maxRetriesPerRequest: options.reconnect === false ? 0 : 20,
  });
  client.on('error', () => undefined);
  const subscriber = client.duplicate();
  subscriber.on('error', () => undefined);
  await Promise.all([ready(client), ready(subscriber)]);
  return {
    kind,
    client,
    subscriber,
    raw: (command, ...args) => client.call(command!, ...args),
    close: async () => {
      client.disconnect();
      subscriber.disconnect();
    },
  };
}

function ready(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('end', () => reject(new Error('ioredis connection ended')));
  });
}

/** A unique key prefix per test, so tests share one server without seeing each other. */
export const uniquePrefix = () => `t${randomUUID().slice(0, 8)}:`;

/** Start a redis-server for this file, and close every connection made through `connectTo` after it. */
export function useRedis(options: { persist?: boolean } = {}) {
  const state: { server: RedisServer | null; connections: Connection[] } = { server: null, connections: [] };
  beforeAll(async () => {
    state.server = await startRedisServer(options);
  });
  afterAll(async () => {
    await Promise.all(state.connections.map((c) => c.close()));
    await state.server?.stop();
  });
  return {
    get server(): RedisServer {
      if (!state.server) throw new Error('redis-server not started');
      return state.server;
    },
    async connectTo(kind: ClientKind, connectOptions?: { reconnect?: boolean }): Promise<Connection> {
      const connection = await connect(kind, this.server.url, connectOptions);
      state.connections.push(connection);
      return connection;
    },
  };
}
