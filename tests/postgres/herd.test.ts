/** The multi-process herd on PostgreSQL: 4 instances, each its own pool, lease lock and LISTEN connection. */
import { describeInstancesHerd } from '../support/herd.js';
import { postgresStore } from '../../adapters/postgres/index.js';
import { usePostgres } from './support/pg.js';

const postgres = usePostgres();
const { tablePrefix } = postgres;

describeInstancesHerd({
  name: 'PostgreSQL',
  driver: () => ({ type: 'postgres', connectionString: postgres.info.connectionString, tablePrefix }),
  store: (sessionId) => postgresStore({ pool: adminPool(), sessionId, tablePrefix, listen: false }),
});

let admin: ReturnType<typeof postgres.pool> | undefined;
function adminPool() {
  admin ??= postgres.pool();
  return admin;
}
