/** The multi-process herd on the Redis Cluster: 2 instances on node-redis, 2 on ioredis, sharded pub/sub. */
import { beforeAll } from 'vitest';
import { redisStore } from '../../adapters/redis/index.js';
import { describeInstancesHerd } from '../support/herd.js';
import { uniquePrefix, useCluster, type ClusterConnection } from './support/clients.js';

const cluster = useCluster();
const prefix = uniquePrefix();
let admin: ClusterConnection;

beforeAll(async () => {
  admin = await cluster.connect('ioredis');
});

describeInstancesHerd({
  name: 'a Redis Cluster',
  driver: (i) => ({ type: 'redis-cluster', kind: i % 2 ? 'ioredis' : 'node-redis', nodes: cluster.info.nodes, prefix }),
  store: (sessionId) => redisStore({ client: admin.client, sessionId, prefix }),
});
