/**
 * Global setup of the cluster project: one Redis Cluster for every file of it, started once
 * per run and stopped at the end. A missing binary fails the run (never a skip).
 */
import type { TestProject } from 'vitest/node';
import { startRedisCluster, stopRedisCluster, type ClusterInfo } from '../support/redis-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisCluster: ClusterInfo;
  }
}

export default async function setup(project: TestProject) {
  const started = Date.now();
  const cluster = await startRedisCluster({ timeoutMs: 30_000 });
  console.log(`[figures] redis cluster: 6 nodes (3 primaries, 3 replicas) up in ${Date.now() - started} ms`);
  project.provide('redisCluster', cluster);
  return async () => {
    await stopRedisCluster(cluster);
  };
}
