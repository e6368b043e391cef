/**
 * Global setup of the postgres project: one throw-away PostgreSQL for every file of it,
 * started once per run and stopped at the end. Missing binaries fail the run (never a skip).
 */
import type { TestProject } from 'vitest/node';
import { startPostgresServer, stopPostgresServer, type PostgresInfo } from '../support/postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: PostgresInfo;
  }
}

export default async function setup(project: TestProject) {
  const started = Date.now();
  const info = await startPostgresServer();
  console.log(`[figures] postgres: initdb + start in ${Date.now() - started} ms (${info.bin})`);
  project.provide('postgres', info);
  return () => stopPostgresServer(info);
}
