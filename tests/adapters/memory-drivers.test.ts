import { memoryLock } from '../../adapters/locks/memory.js';
import { memoryStore } from '../../adapters/stores/memory.js';
import { describeRefreshLockContract } from '../support/contract/refresh-lock.js';
import { describeTokenStoreContract } from '../support/contract/token-store.js';

describeTokenStoreContract({
  name: 'memory',
  async create() {
    const store = memoryStore();
    return { store, peer: store, other: memoryStore() };
  },
});

describeRefreshLockContract({
  name: 'memory',
  async create({ maxHoldMs }) {
    const lock = memoryLock({ maxHoldMs });
    return { lock, peer: lock };
  },
});
