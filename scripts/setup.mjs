#!/usr/bin/env node
// Installs what the test suites need beyond npm packages: Debian packages for the real
// servers and browser the end-to-end suites use. Called by scripts/test.mjs before the
// tests. On a machine where they cannot be installed (not root, no apt-get) it says so;
// the suites that need them then fail in CI (CI=true) and are reported missing elsewhere.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian packages the suites use, by the binary that proves they are there. */
export const requirements = [
  // { binary: '/usr/bin/redis-server', pkg: 'redis-server', for: 'the Redis suites' },
  { binary: '/usr/bin/chromium', pkg: 'chromium', for: 'the browser suites' },
];

export function missing() {
  return requirements.filter((r) => !existsSync(r.binary));
}

export function setup() {
  const needed = missing();
  if (needed.length === 0) return true;
  const names = needed.map((r) => r.pkg);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = existsSync('/usr/bin/apt-get');
  if (!isRoot || !hasApt) {
    console.warn(`setup: cannot install ${names.join(', ')} here (${isRoot ? 'no apt-get' : 'not root'}); install them with your package manager.`);
    return false;
  }
  console.log(`setup: installing ${names.join(', ')} (for ${needed.map((r) => r.for).join(', ')})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let result = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...names], { stdio: 'inherit', env });
  if (result.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    result = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...names], { stdio: 'inherit', env });
  }
  return result.status === 0 && missing().length === 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exit(setup() ? 0 : 1);
}
