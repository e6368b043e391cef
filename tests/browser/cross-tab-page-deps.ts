export { crossTab } from '../../adapters/cross-tab/index.js';
import { broadcastStore } from '../../adapters/cross-tab/index.js';
import { webStorageStore } from '../../adapters/index.js';

/** localStorage as the shared store (what the suite shows to be unsafe inside the lock). */
export function webStorageStoreForTests(name: string) {
  return broadcastStore(webStorageStore({ key: `${name}.tokens` }), { channel: `${name}.tokens` });
}
