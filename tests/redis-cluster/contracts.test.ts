/** The TokenStore and RefreshLock contracts on a real Cluster, with both clients and both pub/sub modes. */
import { redisLock, redisStore } from '../../adapters/redis/index.js';
import { describeRefreshLockContract } from '../support/contract/refresh-lock.js';
import { describeTokenStoreContract } from '../support/contract/token-store.js';
import { clientKinds, uniquePrefix, useCluster } from './support/clients.js';

const cluster = useCluster();

for (const kind of clientKinds) {
  for (const pubsub of ['sharded', 'global'] as const) {
    describeTokenStoreContract({
      name: `redis cluster (${kind}, ${pubsub} pub/sub)`,
      async create() {
        // Two connections: the peer is another instance.
        const [mine, theirs] = await Promise.all([cluster.connect(kind), cluster.connect(kind)]);
        const prefix = uniquePrefix();
        const sessionId = `session-${prefix}`;
        return {
          store: redisStore({ client: mine.client, subscriber: mine.subscriber, sessionId, prefix, pubsub }),
          peer: redisStore({ client: theirs.client, subscriber: theirs.subscriber, sessionId, prefix, pubsub }),
          other: redisStore({ client: mine.client, subscriber: mine.subscriber, sessionId: `${sessionId}-other`, prefix, pubsub }),
        };
      },
    });
    describeRefreshLockContract({
      name: `redis cluster (${kind}, ${pubsub} pub/sub)`,
      async create({ maxHoldMs, ttlMs = 150 }) {
        const [mine, theirs] = await Promise.all([cluster.connect(kind), cluster.connect(kind)]);
        // The lock outlives a silent holder by ttlMs: keep it short so maxHoldMs decides.
        const options = { sessionId: 's', prefix: uniquePrefix(), ttlMs, maxHoldMs, pubsub };
        return {
          lock: redisLock({ ...options, client: mine.client, subscriber: mine.subscriber }),
          peer: redisLock({ ...options, client: theirs.client, subscriber: theirs.subscriber }),
        };
      },
    });
  }
}
