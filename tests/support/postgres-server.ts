/**
 * A throw-away PostgreSQL for the suites: Debian's `postgresql` binaries, `initdb` into a
 * temporary directory and `pg_ctl start` on 127.0.0.1 and a free port (its socket in the same
 * directory). Started once per run by the vitest global setup of the postgres project.
 *
 * PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user
 * (created by Debian's package; else `nobody`) and every binary runs as that user.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What the test files are given. */
export interface PostgresInfo {
  /** `postgres://authchart@127.0.0.1:<port>/postgres` (trust authentication, local only). */
  connectionString: string;
  port: number;
  dir: string;
  /** Where the binaries are (for tests that stop and start the server). */
  bin: string;
  /** The user the server runs as (uid, gid), when started as root. */
  user?: { uid: number; gid: number };
}

/** The newest `/usr/lib/postgresql/<version>/bin`, or `$PG_BIN`. */
export function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const version of versions) if (existsSync(join(root, version, 'bin', 'initdb'))) return join(root, version, 'bin');
  throw new Error("PostgreSQL binaries not found (initdb, pg_ctl). Install Debian's postgresql (run `node scripts/setup.mjs` as root), or set PG_BIN.");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** uid and gid of a user from /etc/passwd. */
function userIds(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(bin: string, command: string, args: string[], user: PostgresInfo['user'], timeoutMs: number, cwd: string): void {
  // cwd: the server's user may not be allowed into the current directory.
  const result = spawnSync(join(bin, command), args, { encoding: 'utf8', timeout: timeoutMs, cwd, ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } });
  if (result.error || result.status !== 0) {
    throw new Error(`${command} failed (${result.status ?? result.error?.message}): ${result.stdout ?? ''}${result.stderr ?? ''}`.trim());
  }
}

/** The command-line parts shared by start and restart. */
function startArgs(info: Pick<PostgresInfo, 'dir' | 'port'>): string[] {
  const options = [
    `-p ${info.port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${info.dir}`,
    // A throw-away cluster: no fsync (the machine does not crash, only the server). Commits
    // still reach the WAL before they are answered, so a server killed and started again
    // (-m immediate) keeps them.
    '-c fsync=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
  ].join(' ');
  return ['-D', join(info.dir, 'data'), '-l', join(info.dir, 'server.log'), '-o', options, '-w', '-t', '30', 'start'];
}

/** Start the server (again); resolves once it accepts connections. */
export function startPostgres(info: PostgresInfo): void {
  run(info.bin, 'pg_ctl', startArgs(info), info.user, 40_000, info.dir);
}

/** Stop it at once (`-m immediate`: no goodbye to clients, as in a crash). */
export function stopPostgres(info: PostgresInfo): void {
  run(info.bin, 'pg_ctl', ['-D', join(info.dir, 'data'), '-m', 'immediate', '-w', '-t', '30', 'stop'], info.user, 40_000, info.dir);
}

export async function startPostgresServer(): Promise<PostgresInfo> {
  const bin = postgresBin();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const user = isRoot ? (userIds('postgres') ?? userIds('nobody')) : undefined;
  if (isRoot && !user) throw new Error('Running as root, PostgreSQL needs an unprivileged user: neither `postgres` nor `nobody` exists.');
  const dir = mkdtempSync(join(tmpdir(), 'authchart-postgres-'));
  const info: PostgresInfo = { connectionString: '', port: await freePort(), dir, bin, user };
  info.connectionString = `postgres://authchart@127.0.0.1:${info.port}/postgres`;
  try {
    if (user) {
      chownSync(dir, user.uid, user.gid);
      chmodSync(dir, 0o700);
    }
    run(bin, 'initdb', ['-D', join(dir, 'data'), '-U', 'authchart', '--auth=trust', '--encoding=UTF8', '--no-sync', '--no-instructions'], user, 60_000, dir);
    // initdb wrote the log's directory; the log file must be writable by the server's user.
    writeFileSync(join(dir, 'server.log'), '');
    if (user) chownSync(join(dir, 'server.log'), user.uid, user.gid);
    startPostgres(info);
    return info;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Stop the server and remove its directory. */
export function stopPostgresServer(info: PostgresInfo): void {
  try {
    stopPostgres(info);
  } catch {
    // Already stopped.
  }
  rmSync(info.dir, { recursive: true, force: true });
}
