#!/usr/bin/env node
// The whole test suite, as `npm test` runs it: lint and format (Biome, a warning fails),
// types (machines/ without DOM or Node types), the vitest suites, then the build and the
// package's exports.
import { spawnSync } from 'node:child_process';

const steps = [
  ['setup: Debian packages for the end-to-end suites', 'node', ['scripts/setup.mjs']],
  ['lint and format: biome', 'npx', ['biome', 'ci', '--error-on-warnings', '.']],
  ['types: machines/ (no DOM, no Node)', 'npx', ['tsc', '-p', 'machines/tsconfig.json']],
  ['types: everything', 'npx', ['tsc', '-p', '.']],
  ['types: the React example (browser, bundler resolution)', 'npx', ['tsc', '-p', 'examples/react-dashboard/tsconfig.json']],
  ['types: the Next.js example (bundler resolution)', 'npx', ['tsc', '-p', 'examples/next-app/tsconfig.typecheck.json']],
  ['types: the Express BFF example', 'npx', ['tsc', '-p', 'examples/express-bff/tsconfig.json']],
  ['tests', 'npx', ['vitest', 'run']],
  ['build', 'npx', ['tsup', '--silent']],
  ['package exports', 'npx', ['publint', '--strict']],
  ['package types', 'npx', ['attw', '--pack', '.', '--profile', 'node16', '--quiet']],
];

for (const [name, command, args] of steps) {
  const started = Date.now();
  process.stdout.write(`\n▶ ${name}\n`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`\n✖ ${name} failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
  process.stdout.write(`✔ ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}
