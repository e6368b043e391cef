#!/usr/bin/env node
// Installs what the test suites need beyond npm packages: Debian packages for the real
// servers and browser the end-to-end suites use. Called by scripts/test.mjs before the
// tests. On a machine where they cannot be installed (not root, no apt-get) it says so;
// the suites that need them then fail in CI (CI=true) and are reported missing elsewhere.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

/** Debian packages the suites use, by the binary that proves they are there. */
export const requirements = [
  { binary: '/usr/bin/redis-server', pkg: 'redis-server', for: 'the Redis suites' },
  { binary: '/usr/bin/redis-cli', pkg: 'redis-tools', for: 'the Redis Cluster suite (redis-cli --cluster create)' },
  { binary: '/usr/bin/chromium', pkg: 'chromium', for: 'the browser suites' },
  // Debian installs PostgreSQL's server binaries under /usr/lib/postgresql/<version>/bin.
  { binary: () => postgresBinaries(), pkg: 'postgresql', for: 'the PostgreSQL suites (initdb, pg_ctl)' },
];

function postgresBinaries() {
  const root = '/usr/lib/postgresql';
  return existsSync(root) && readdirSync(root).some((version) => existsSync(`${root}/${version}/bin/initdb`) && existsSync(`${root}/${version}/bin/pg_ctl`));
}

export function missing() {
  return requirements.filter((r) => !(typeof r.binary === 'function' ? r.binary() : existsSync(r.binary)));
}

export function setup() {
  const needed = missing();
  if (needed.length === 0) return true;
  const names = needed.map((r) => r.pkg);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = existsSync('/usr/bin/apt-get');
  // Not root: a password-less sudo will do.
  const sudo = !isRoot && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if (!hasApt || (!isRoot && !sudo)) {
    console.warn(`setup: cannot install ${names.join(', ')} here (${hasApt ? 'not root, no sudo' : 'no apt-get'}); install them with your package manager.`);
    return false;
  }
  console.log(`setup: installing ${names.join(', ')} (for ${needed.map((r) => r.for).join(', ')})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) =>
    sudo ? spawnSync('sudo', ['-n', '-E', 'apt-get', ...args], { stdio: 'inherit', env }) : spawnSync('apt-get', args, { stdio: 'inherit', env });
  let result = apt(['install', '-y', '--no-install-recommends', ...names]);
  if (result.status !== 0) {
    apt(['update']);
    result = apt(['install', '-y', '--no-install-recommends', ...names]);
  }
  return result.status === 0 && missing().length === 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exit(setup() ? 0 : 1);
}
