/** Cluster connections for the suites: node-redis `createCluster` and ioredis `Redis.Cluster`, each with a subscriber. */
import { Cluster } from 'ioredis';
import { createCluster } from 'redis';
import { afterAll, inject } from 'vitest';
import type { RedisClientLike, RedisSubscriberLike } from '../../../adapters/redis/client.js';
import type { ClusterInfo } from '../../support/redis-cluster.js';
import type { ClientKind } from '../../redis/support/clients.js';

export { clientKinds, uniquePrefix, type ClientKind } from '../../redis/support/clients.js';

export interface ClusterConnection {
  kind: ClientKind;
  client: RedisClientLike;
  subscriber: RedisSubscriberLike;
  /** A raw command, routed to the node that owns `key`'s slot. */
  raw(key: string, ...args: string[]): Promise<unknown>;
  close(): Promise<void>;
}

export async function connectCluster(
  kind: ClientKind,
  info: { nodes: { port: number }[] },
  ioredisOptions: { shardedSubscribers?: boolean } = {},
): Promise<ClusterConnection> {
  const rootNodes = info.nodes.slice(0, 3);
  if (kind === 'node-redis') {
    const options = {
      rootNodes: rootNodes.map((n) => ({ url: `redis://127.0.0.1:${n.port}` })),
      defaults: { socket: { reconnectStrategy: (retries: number) => Math.min(50 + retries * 20, 200) } },
    };
    const client = createCluster(options);
    client.on('error', () => undefined);
    await client.connect();
    const subscriber = client.duplicate();
    subscriber.on('error', () => undefined);
    await subscriber.connect();
    return {
      kind,
      client,
      subscriber,
      raw: (key, ...args) => client.sendCommand(key, false, args),
      close: async () => {
        client.destroy();
        subscriber.destroy();
      },
    };
  }
  const options = {
    clusterRetryStrategy: (times: number) => Math.min(50 + times * 20, 200),
    shardedSubscribers: ioredisOptions.shardedSubscribers ?? true,
  };
  const client = new Cluster(
    rootNodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    options,
  );
  client.on('error', () => undefined);
  const subscriber = client.duplicate();
  subscriber.on('error', () => undefined);
  await Promise.all([ready(client), ready(subscriber)]);
  return {
    kind,
    client,
    subscriber,
    raw: (_key, command, ...args) => client.call(command!, ...args),
    close: async () => {
      client.disconnect();
      subscriber.disconnect();
    },
  };
}

function ready(client: Cluster): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('end', () => reject(new Error('ioredis cluster connection ended')));
  });
}

/** The cluster of this run (from the global setup), and connections closed after the file. */
export function useCluster() {
  const connections: ClusterConnection[] = [];
  afterAll(async () => {
    await Promise.all(connections.map((c) => c.close()));
  });
  return {
    get info(): ClusterInfo {
      return inject('redisCluster');
    },
    async connect(kind: ClientKind): Promise<ClusterConnection> {
      const connection = await connectCluster(kind, inject('redisCluster'));
      connections.push(connection);
      return connection;
    },
  };
}
