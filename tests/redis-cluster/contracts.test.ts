import { redisLock, redisStore } from '../../adapters/redis/index.js';
import { describeRefreshLockContract } from '../support/contract/refresh-lock.js';
import { describeTokenStoreContract } from '../support/contract/token-store.js';
import { clientKinds, uniquePrefix, useCluster } from './support/clients.js';

const cluster = useCluster();

for (const kind of clientKinds) {
  describeTokenStoreContract({
    name: `redis cluster (${kind})`,
    async create() {
      const [mine, theirs] = await Promise.all([cluster.connect(kind), cluster.connect(kind)]);
      const prefix = uniquePrefix();
      const sessionId = `session-${prefix}`;
      return {
        store: redisStore({ client: mine.client, subscriber: mine.subscriber, sessionId, prefix }),
        peer: redisStore({ client: theirs.client, subscriber: theirs.subscriber, sessionId, prefix }),
        other: redisStore({ client: mine.client, subscriber: mine.subscriber, sessionId: `${sessionId}-other`, prefix }),
      };
    },
  });
  describeRefreshLockContract({
    name: `redis cluster (${kind})`,
    async create({ maxHoldMs }) {
      const [mine, theirs] = await Promise.all([cluster.connect(kind), cluster.connect(kind)]);
      const options = { sessionId: 's', prefix: uniquePrefix(), ttlMs: 150, maxHoldMs };
      return {
        lock: redisLock({ ...options, client: mine.client, subscriber: mine.subscriber }),
        peer: redisLock({ ...options, client: theirs.client, subscriber: theirs.subscriber }),
      };
    },
  });
}
