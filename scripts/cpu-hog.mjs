#!/usr/bin/env node
// Keep every core busy, to check that the test suite does not need a quiet machine:
//   node scripts/cpu-hog.mjs [--cores N] [--seconds S] [-- command args…]
// With a command, the hog runs while the command runs (or for --seconds, if given), then
// stops, and the command's exit code is returned; without one it runs for --seconds
// (default 600) or until interrupted.
//   node scripts/cpu-hog.mjs -- npm test
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const args = process.argv.slice(2);
const split = args.indexOf('--');
const own = split === -1 ? args : args.slice(0, split);
const command = split === -1 ? [] : args.slice(split + 1);
const option = (name, fallback) => {
  const at = own.indexOf(name);
  const value = at === -1 ? NaN : Number(own[at + 1]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};
const cores = option('--cores', availableParallelism());
// With a command: as long as it runs (a day at most), unless --seconds says otherwise.
const seconds = option('--seconds', command.length ? 86_400 : 600);

// A spin loop per core, in worker threads of this process, so stopping it stops them all.
const spin = `const end = Date.now() + ${seconds * 1000}; let x = 0; while (Date.now() < end) { for (let i = 0; i < 1e6; i++) x += i; }`;
const workers = Array.from({ length: cores }, () => new Worker(spin, { eval: true }));
const stop = () => Promise.all(workers.map((worker) => worker.terminate()));
process.stderr.write(`[cpu-hog] ${cores} busy thread(s)${command.length ? `, running: ${command.join(' ')}` : ` for ${seconds} s`}\n`);

if (command.length) {
  const child = spawn(command[0], command.slice(1), { stdio: 'inherit', shell: process.platform === 'win32' });
  child.on('exit', async (code, signal) => {
    await stop();
    process.exit(code ?? (signal ? 1 : 0));
  });
  for (const name of ['SIGINT', 'SIGTERM']) process.on(name, () => child.kill(name));
} else {
  for (const name of ['SIGINT', 'SIGTERM']) process.on(name, () => stop().then(() => process.exit(0)));
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.on('exit', resolve))));
}
