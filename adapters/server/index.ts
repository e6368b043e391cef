/**
 * `authchart/server`: sessions on a server — one authchart session per user session,
 * created on first use and dropped when idle. With the Redis store and lock
 * (`redisSessionManager` from `authchart/redis`), every instance shares one refresh per expiry.
 */
export { createSessionManager } from './session-manager.js';
export type { SessionManager, SessionManagerOptions, ManagedSessionOptions } from './session-manager.js';
