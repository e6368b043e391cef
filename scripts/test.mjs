#!/usr/bin/env node
// The whole test suite, as `npm test` runs it: lint and format (Biome, a warning fails),
// types (machines/ without DOM or Node types), the build and the package's exports, then
// the vitest suites.
//
// A step is one command, or lanes of commands run side by side (2 cores): each lane runs its
// commands one after the other, and its lines are prefixed with its name. The first failure
// stops the run once the lanes under way have finished.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const vitest = (...projects) => ['npx', ['vitest', 'run', ...projects.flatMap((project) => ['--project', project])]];

const steps = [
  { name: 'setup: Debian packages for the end-to-end suites', lanes: { '': [['node', ['scripts/setup.mjs']]] } },
  {
    name: 'lint, types, build and package checks',
    lanes: {
      lint: [['npx', ['biome', 'ci', '--error-on-warnings', '.']]],
      types: [
        ['npx', ['tsc', '-p', 'machines/tsconfig.json']],
        ['npx', ['tsc', '-p', '.']],
        ['npx', ['tsc', '-p', 'examples/react-dashboard/tsconfig.json']],
        ['npx', ['tsc', '-p', 'examples/next-app/tsconfig.typecheck.json']],
        ['npx', ['tsc', '-p', 'examples/express-bff/tsconfig.json']],
      ],
      build: [
        ['npx', ['tsup', '--silent']],
        ['npx', ['publint', '--strict']],
        ['npx', ['attw', '--pack', '.', '--profile', 'node16', '--quiet']],
      ],
    },
    // lint is quick: it goes first in the types lane's place on the second core.
    order: [['lint', 'types'], ['build']],
  },
  // Three lanes side by side: the in-process suites (two files at a time, vitest.config.ts)
  // keep the cores busy while the real-server and browser suites (one file at a time in each
  // lane) wait on real time: lock bounds, frozen tabs, failovers, the Next.js build's I/O.
  {
    name: 'tests: unit, real servers and browsers',
    lanes: { unit: [vitest('unit')], browsers: [vitest('browsers')], servers: [vitest('servers', 'redis-cluster', 'postgres')] },
  },
];

function runCommand([command, args], prefix) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: prefix ? ['inherit', 'pipe', 'pipe'] : 'inherit' });
    if (prefix) {
      for (const [stream, out] of [
        [child.stdout, process.stdout],
        [child.stderr, process.stderr],
      ]) {
        createInterface({ input: stream }).on('line', (line) => out.write(`[${prefix}] ${line}\n`));
      }
    }
    child.on('close', (code, signal) => resolve(code === 0 ? null : `${command} ${args.join(' ')} (exit ${code ?? signal})`));
  });
}

async function runLane(commands, prefix) {
  for (const command of commands) {
    const failure = await runCommand(command, prefix);
    if (failure) return failure;
  }
  return null;
}

for (const step of steps) {
  const started = Date.now();
  process.stdout.write(`\n▶ ${step.name}\n`);
  const names = Object.keys(step.lanes);
  const groups = step.order ?? names.map((name) => [name]);
  const prefixed = groups.length > 1;
  const failures = await Promise.all(
    groups.map(async (group) => {
      for (const name of group) {
        const failure = await runLane(step.lanes[name], prefixed ? name : '');
        if (failure) return failure;
      }
      return null;
    }),
  );
  const failed = failures.filter(Boolean);
  if (failed.length > 0) {
    console.error(`\n✖ ${step.name} failed: ${failed.join('; ')}`);
    process.exit(1);
  }
  process.stdout.write(`✔ ${step.name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}
