/**
 * The Next.js example (examples/next-app), built once and started as real `next start`
 * processes on 127.0.0.1.
 *
 * The build is cached: its inputs (the example, authchart's sources, the lock file) are
 * hashed, and the hash is written next to the build (`.next/authchart-source-hash`, git-
 * ignored). A run whose inputs did not change starts the existing build; otherwise it
 * builds authchart's JavaScript (`dist/`, which the example imports as `authchart/*`) and
 * then the app, each bounded in time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const exampleDir = join(repoRoot, 'examples/next-app');
const stampFile = join(exampleDir, '.next/authchart-source-hash');
const nextBin = join(repoRoot, 'node_modules/next/dist/bin/next');

function filesUnder(dir: string, skip: (path: string) => boolean): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (skip(path)) continue;
    if (statSync(path).isDirectory()) out.push(...filesUnder(path, skip));
    else out.push(path);
  }
  return out;
}

const skip = (path: string) => /(^|\/)(\.next|node_modules|dist)(\/|$)|next-env\.d\.ts$|screenshot\.png$/.test(relative(repoRoot, path));
/** authchart's own sources and build settings: what `dist/` is built from. */
const packageSources = () => [
  ...filesUnder(join(repoRoot, 'adapters'), skip),
  ...filesUnder(join(repoRoot, 'machines'), skip),
  join(repoRoot, 'tsup.config.ts'),
  join(repoRoot, 'package.json'),
  join(repoRoot, 'package-lock.json'),
];

/** The hash of everything the build depends on. */
export function sourceHash(): string {
  const files = [...filesUnder(exampleDir, skip), ...packageSources()].sort();
  const hash = createHash('sha256');
  for (const file of files) hash.update(relative(repoRoot, file)).update('\0').update(readFileSync(file)).update('\0');
  return hash.digest('hex');
}

function run(command: string, args: string[], timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += String(chunk)));
    child.stderr.on('data', (chunk) => (output += String(chunk)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} took longer than ${timeoutMs} ms:\n${output.slice(-4000)}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${what} failed (exit ${code}):\n${output.slice(-4000)}`));
    });
  });
}

/** `dist/` holds every entry the example imports, built after the last change to a source. */
function distIsFresh(): boolean {
  const built = ['index.js', 'next.js', 'oauth.js', 'redis.js'].map((file) => join(repoRoot, 'dist', file));
  if (!built.every((file) => existsSync(file))) return false;
  const oldestBuild = Math.min(...built.map((file) => statSync(file).mtimeMs));
  return packageSources().every((file) => statSync(file).mtimeMs <= oldestBuild);
}

export interface BuildReport {
  /** False when the cached build was used. */
  built: boolean;
  /** Wall time of building authchart's JavaScript and the app (0 when cached). */
  packageMs: number;
  nextMs: number;
}

/**
 * Build the example unless the cached build matches the sources. `timeoutMs` bounds each
 * step (a busy machine is slow; a hung build is a failure).
 */
export async function buildNextExample(timeoutMs = 240_000): Promise<BuildReport> {
  const hash = sourceHash();
  if (existsSync(stampFile) && existsSync(join(exampleDir, '.next/BUILD_ID')) && readFileSync(stampFile, 'utf8') === hash) {
    return { built: false, packageMs: 0, nextMs: 0 };
  }
  let started = Date.now();
  // JavaScript only: the types are built by `npm run build`, and the app does not need them.
  // Not when `dist/` is newer than every source (npm test built it moments ago): tsup empties
  // `dist/` first, which would pull it from under the package suites running beside this one.
  if (!distIsFresh()) {
    await run(process.execPath, [join(repoRoot, 'node_modules/tsup/dist/cli-default.js'), '--silent', '--no-dts'], timeoutMs, 'building authchart (tsup)');
  }
  const packageMs = Date.now() - started;
  started = Date.now();
  await run(process.execPath, [nextBin, 'build', exampleDir], timeoutMs, 'next build of examples/next-app');
  const nextMs = Date.now() - started;
  writeFileSync(stampFile, hash);
  return { built: true, packageMs, nextMs };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface NextInstance {
  url: string;
  /** Everything the process printed (for a failing test's message). */
  readonly output: string;
  stop(): Promise<void>;
}

/** `next start` on 127.0.0.1 and a free port, with `env`; resolves once it answers HTTP. */
export async function startNextInstance(env: Record<string, string>, timeoutMs = 60_000): Promise<NextInstance> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [nextBin, 'start', exampleDir, '-H', '127.0.0.1', '-p', String(port)], {
    cwd: repoRoot,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += String(chunk)));
  child.stderr!.on('data', (chunk) => (output += String(chunk)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`next start exited (${child.exitCode}):\n${output}`);
    try {
      await fetch(`${url}/favicon.ico`, { signal: AbortSignal.timeout(10_000) });
      break;
    } catch {
      if (Date.now() > deadline) {
        kill();
        throw new Error(`next start did not answer within ${timeoutMs} ms:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    get output() {
      return output;
    },
    async stop() {
      process.off('exit', kill);
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(kill, 3000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
