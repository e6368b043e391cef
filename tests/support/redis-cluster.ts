/**
 * A real Redis Cluster for the suites: six Debian `redis-server` processes in cluster mode on
 * 127.0.0.1 (3 primaries, 3 replicas), joined by `redis-cli --cluster create` (Debian's
 * `redis-tools`). Started once per test run by the vitest global setup of the cluster
 * project (tests/redis-cluster/global-setup.ts), which hands the node list to the test files.
 *
 * Every node writes its pid to a file in the cluster's directory, so a test that kills a
 * node (a primary crash) and starts it again (it rejoins as a replica) needs no handle on
 * the process, and the teardown stops whatever runs there, whoever started it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisServerBinary } from './redis-server.js';

export const redisCliBinary = process.env.REDIS_CLI_BIN ?? 'redis-cli';

/** What the test files are given (serialisable: it crosses from the global setup to the workers). */
export interface ClusterInfo {
  dir: string;
  nodeTimeoutMs: number;
  nodes: { port: number; busPort: number }[];
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

/** One command over a raw socket (inline protocol), its reply as text; null when the node does not answer. */
export function rawCommand(port: number, command: string, timeoutMs = 500): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = '';
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (value: string | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    timer = setTimeout(() => done(reply === '' ? null : reply), timeoutMs);
    socket.once('error', () => done(null));
    socket.connect(port, '127.0.0.1', () => socket.write(`${command}\r\n`));
    socket.on('data', (data) => {
      reply += data.toString();
      // A bulk string reply: wait until it is whole.
      const bulk = /^\$(\d+)\r\n/.exec(reply);
      if (!bulk || reply.length >= bulk[0].length + Number(bulk[1]) + 2) done(reply);
    });
  });
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Redis Cluster: ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The command line of one node (the same for its first start and a restart). */
export function nodeArgs(info: Pick<ClusterInfo, 'dir' | 'nodeTimeoutMs'>, node: { port: number; busPort: number }): string[] {
  const dir = join(info.dir, String(node.port));
  return [
    '--port',
    String(node.port),
    '--bind',
    '127.0.0.1',
    '--cluster-enabled',
    'yes',
    '--cluster-port',
    String(node.busPort),
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    String(info.nodeTimeoutMs),
    // A replica may take over however long it was cut off (the default refuses after
    // 10 × node timeout, which a test's kill-then-restart can pass on a busy machine).
    '--cluster-replica-validity-factor',
    '0',
    // Replicas sync at once instead of waiting 5 s for others to join a diskless transfer.
    '--repl-diskless-sync-delay',
    '0',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--pidfile',
    join(dir, 'redis.pid'),
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
    '--logfile',
    join(dir, 'redis.log'),
  ];
}

/** Start one node in the background; resolves once it answers PING. */
export async function startNode(info: Pick<ClusterInfo, 'dir' | 'nodeTimeoutMs'>, node: { port: number; busPort: number }): Promise<ChildProcess> {
  mkdirSync(join(info.dir, String(node.port)), { recursive: true });
  let problem: string | null = null;
  const child = spawn(redisServerBinary, nodeArgs(info, node), { stdio: 'ignore' });
  child.once('error', (error: NodeJS.ErrnoException) => {
    problem =
      error.code === 'ENOENT'
        ? `${redisServerBinary} not found. Install Debian's redis-server and redis-tools (run \`node scripts/setup.mjs\` as root).`
        : `redis-server failed to start: ${error.message}`;
  });
  child.once('exit', (code, signal) => {
    problem ??= `redis-server on port ${node.port} exited (${code ?? signal}); see ${join(info.dir, String(node.port), 'redis.log')}`;
  });
  child.unref();
  await until(`node ${node.port} answers PING`, 5000, async () => {
    if (problem) throw new Error(problem);
    return (await rawCommand(node.port, 'PING', 200))?.startsWith('+PONG') === true;
  });
  return child;
}

/** The pid a node wrote, or null when it runs no more. */
export function nodePid(info: Pick<ClusterInfo, 'dir'>, port: number): number | null {
  const file = join(info.dir, String(port), 'redis.pid');
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/** SIGKILL a node (a crash: no goodbye to clients or to the cluster) and wait until it is gone. */
export async function killNode(info: Pick<ClusterInfo, 'dir'>, port: number): Promise<void> {
  const pid = nodePid(info, port);
  if (pid === null) return;
  process.kill(pid, 'SIGKILL');
  await until(`node ${port} is gone`, 5000, async () => nodePid(info, port) === null);
}

/** The fields of `CLUSTER INFO` / `INFO replication` of one node. */
export async function infoFields(port: number, command: string): Promise<Record<string, string>> {
  const reply = (await rawCommand(port, command)) ?? '';
  return Object.fromEntries(
    reply
      .split('\r\n')
      .filter((line) => line.includes(':'))
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]),
  );
}

/** Roles as every node sees itself: port → 'master' | 'slave', and the slot ranges of primaries. */
export async function clusterNodes(
  port: number,
): Promise<{ port: number; id: string; role: 'master' | 'slave'; failed: boolean; primaryId: string | null; slots: [number, number][] }[]> {
  const reply = (await rawCommand(port, 'CLUSTER NODES')) ?? '';
  return reply
    .split('\n')
    .slice(1)
    .filter((line) => /^[0-9a-f]{40} /.test(line))
    .map((line) => {
      const [id, address, flags, primary, , , , , ...slots] = line.trim().split(' ');
      return {
        id: id!,
        port: Number(address!.split('@')[0]!.split(':')[1]),
        role: flags!.includes('master') ? ('master' as const) : ('slave' as const),
        failed: flags!.includes('fail'),
        primaryId: primary === '-' ? null : primary!,
        slots: slots
          .filter((s) => /^\d+(-\d+)?$/.test(s))
          .map((s) => {
            const [from, to] = s.split('-').map(Number);
            return [from!, to ?? from!] as [number, number];
          }),
      };
    });
}

/** Whether every node runs, agrees the cluster is ok, and every replica is in sync with its primary. */
export async function isHealthy(info: ClusterInfo): Promise<boolean> {
  for (const node of info.nodes) {
    const cluster = await infoFields(node.port, 'CLUSTER INFO');
    if (cluster.cluster_state !== 'ok' || cluster.cluster_known_nodes !== String(info.nodes.length)) return false;
  }
  const view = await clusterNodes(info.nodes[0]!.port);
  if (view.length !== info.nodes.length || view.some((n) => n.failed)) return false;
  if (view.filter((n) => n.role === 'master').length !== 3) return false;
  for (const replica of view.filter((n) => n.role === 'slave')) {
    const replication = await infoFields(replica.port, 'INFO replication');
    if (replication.master_link_status !== 'up') return false;
  }
  return true;
}

export async function waitHealthy(info: ClusterInfo, timeoutMs = 20_000): Promise<void> {
  await until('every node ok, every replica in sync', timeoutMs, () => isHealthy(info));
}

/**
 * Start six nodes and join them: 3 primaries with a replica each. The node timeout is short
 * (1 s), so a killed primary is replaced within a few seconds.
 */
export async function startRedisCluster(options: { nodeTimeoutMs?: number; timeoutMs?: number } = {}): Promise<ClusterInfo> {
  const started = Date.now();
  const info: ClusterInfo = { dir: mkdtempSync(join(tmpdir(), 'authchart-redis-cluster-')), nodeTimeoutMs: options.nodeTimeoutMs ?? 1000, nodes: [] };
  try {
    const ports = new Set<number>();
    while (ports.size < 12) ports.add(await freePort());
    const list = [...ports];
    info.nodes = Array.from({ length: 6 }, (_, i) => ({ port: list[i]!, busPort: list[i + 6]! }));
    await Promise.all(info.nodes.map((node) => startNode(info, node)));
    const created = spawnSync(
      redisCliBinary,
      ['--cluster', 'create', ...info.nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'],
      { encoding: 'utf8', timeout: 20_000 },
    );
    if (created.error || created.status !== 0) {
      const reason =
        (created.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
          ? `${redisCliBinary} not found. Install Debian's redis-tools (run \`node scripts/setup.mjs\` as root).`
          : `redis-cli --cluster create failed (${created.status ?? created.error?.message}): ${created.stdout}${created.stderr}`;
      throw new Error(reason);
    }
    await waitHealthy(info, Math.max(1000, (options.timeoutMs ?? 30_000) - (Date.now() - started)));
    return info;
  } catch (error) {
    await stopRedisCluster(info);
    throw error;
  }
}

/** Kill every node that runs in the cluster's directory and remove it. */
export async function stopRedisCluster(info: ClusterInfo): Promise<void> {
  await Promise.all(info.nodes.map((node) => killNode(info, node.port).catch(() => undefined)));
  rmSync(info.dir, { recursive: true, force: true });
}

/** The slot of `key` (CLUSTER KEYSLOT, asked of a running node). */
export async function keySlot(info: ClusterInfo, key: string): Promise<number> {
  for (const node of info.nodes) {
    const reply = await rawCommand(node.port, `CLUSTER KEYSLOT ${key}`);
    if (reply?.startsWith(':')) return Number(reply.slice(1).trim());
  }
  throw new Error('no cluster node answers');
}

/** The port of the primary that serves `slot` now, as a running node sees it. */
export async function primaryOf(info: ClusterInfo, slot: number): Promise<number> {
  for (const node of info.nodes) {
    const view = await clusterNodes(node.port);
    if (view.length === 0) continue;
    const owner = view.find((n) => n.role === 'master' && !n.failed && n.slots.some(([from, to]) => slot >= from && slot <= to));
    if (owner) return owner.port;
  }
  throw new Error(`no primary serves slot ${slot}`);
}

/** Start every node that does not run (after a test killed one) and wait until the cluster is whole. */
export async function healCluster(info: ClusterInfo): Promise<void> {
  for (const node of info.nodes) if (nodePid(info, node.port) === null) await startNode(info, node);
  await waitHealthy(info);
}
