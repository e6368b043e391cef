/** The multi-process herd on one redis-server: 2 instances on node-redis, 2 on ioredis. */
import { beforeAll } from 'vitest';
import { redisStore } from '../../adapters/redis/index.js';
import { describeInstancesHerd } from '../support/herd.js';
import { uniquePrefix, useRedis, type Connection } from './support/clients.js';

const redis = useRedis();
const prefix = uniquePrefix();
let admin: Connection;

beforeAll(async () => {
  admin = await redis.connectTo('node-redis');
});

describeInstancesHerd({
  name: 'one Redis',
  driver: (i) => ({ type: 'redis', kind: i % 2 ? 'ioredis' : 'node-redis', url: redis.server.url, prefix }),
  store: (sessionId) => redisStore({ client: admin.client, sessionId, prefix }),
});
