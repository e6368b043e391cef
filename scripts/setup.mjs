#!/usr/bin/env node
// What the tests need beyond node_modules: Debian's redis-server (the Redis suites start
// their own on 127.0.0.1). In CI (CI=true) a missing server is a failure, never a skip;
// elsewhere, as root, it is installed with apt-get.
import { spawnSync } from 'node:child_process';

const binary = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const found = () => spawnSync(binary, ['--version'], { encoding: 'utf8' }).status === 0;

if (found()) {
  process.stdout.write(`redis-server: ${spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim()}\n`);
  process.exit(0);
}
if (process.env.CI === 'true') {
  console.error(`\n✖ ${binary} is not installed. The Redis test suites need a real Redis: install Debian's package (apt-get install -y redis-server) in the CI image or in .ci/run.\n`);
  process.exit(1);
}
if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
  console.error(`\n✖ ${binary} is not installed and this is not root. Install it: sudo apt-get install -y redis-server\n`);
  process.exit(1);
}
console.log('Installing redis-server (apt-get)…');
const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
if (!install()) {
  spawnSync('apt-get', ['update'], { stdio: 'inherit' });
  install();
}
if (!found()) {
  console.error(`\n✖ ${binary} could not be installed.\n`);
  process.exit(1);
}
