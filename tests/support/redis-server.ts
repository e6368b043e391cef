/**
 * A real `redis-server` (Debian's package) on 127.0.0.1 and a free port, for the Redis
 * suites. Never skipped: without the binary the suite fails and says how to install it
 * (`node scripts/setup.mjs` does it as root; in CI a missing server is a failure).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const redisServerBinary = process.env.REDIS_SERVER_BIN ?? 'redis-server';

export interface RedisServer {
  port: number;
  url: string;
  /** Stop the server (SIGKILL: no goodbye to clients, as in a crash). */
  kill(): Promise<void>;
  /** Start it again on the same port (with the same data when `persist` was set). */
  start(): Promise<void>;
  /** Stop for good and remove its data directory. */
  stop(): Promise<void>;
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

/** PING over a raw socket until +PONG, within `timeoutMs`. */
async function waitForPing(port: number, timeoutMs: number, exited: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problem = exited();
    if (problem) throw new Error(problem);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      const done = (value: boolean) => {
        socket.destroy();
        resolve(value);
      };
      socket.setTimeout(200, () => done(false));
      socket.once('error', () => done(false));
      socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
      socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Start `redis-server --port N --bind 127.0.0.1 --save '' --appendonly no`; with `persist`,
 * an append-only file (fsync always) in a temporary directory, so a restart keeps the data.
 */
export async function startRedisServer(options: { persist?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'authchart-redis-'));
  let child: ChildProcess | null = null;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'];
  args.push(...(options.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));

  const start = async () => {
    let problem: string | null = null;
    const spawned = spawn(redisServerBinary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = spawned;
    let stderr = '';
    spawned.stderr?.on('data', (chunk) => (stderr += String(chunk)));
    spawned.once('error', (error: NodeJS.ErrnoException) => {
      problem =
        error.code === 'ENOENT'
          ? `${redisServerBinary} not found. Install Debian's redis-server (run \`node scripts/setup.mjs\` as root, or \`apt-get install -y redis-server\`).`
          : `redis-server failed to start: ${error.message}`;
    });
    spawned.once('exit', (code, signal) => {
      if (!problem && child === spawned) problem = `redis-server exited (${code ?? signal}) ${stderr.trim()}`;
    });
    await waitForPing(port, 5000, () => problem);
  };
  const kill = async () => {
    const current = child;
    child = null;
    if (!current || current.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      current.once('exit', () => resolve());
      current.kill('SIGKILL');
    });
  };
  process.once('exit', () => (child as ChildProcess | null)?.kill('SIGKILL'));

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
