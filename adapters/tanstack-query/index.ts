/**
 * `authchart/tanstack-query`: TanStack Query v5 (React, Vue, Svelte, Solid, Angular
 * bindings alike) tied to the session: no retry of authchart's errors, refetch of what a
 * refresh cures, a cleared cache at logout. Nothing of TanStack Query is loaded from here.
 */
export { connectQueryClient, shouldRetry } from './connect.js';
export type { ConnectQueryClientOptions, QueryClientLike, RetryValue } from './connect.js';
export type { SessionSource } from '../bindings/source.js';
