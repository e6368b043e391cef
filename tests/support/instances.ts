/** Server instances as child processes running `instance-worker.ts`, and figures over their results. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromWorker, ToWorker, WorkerConfig } from './instance-worker.js';

const workerPath = fileURLToPath(new URL('./instance-worker.ts', import.meta.url));

export interface Instance {
  child: ChildProcess;
  run(sessions: string[], perSession: number): Promise<Extract<FromWorker, { type: 'result' }>>;
  stop(): Promise<void>;
}

export async function startInstance(config: WorkerConfig): Promise<Instance> {
  const child = fork(workerPath, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, AUTHCHART_WORKER: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    // A bound against a hang, not a timing: a cold tsx start on a busy 2-core machine takes tens of seconds.
    const timer = setTimeout(() => reject(new Error('worker did not start within 90 s')), 90_000);
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready`)));
    child.once('message', (message: FromWorker) => {
      clearTimeout(timer);
      if (message.type === 'ready') resolve();
    });
  });
  return {
    child,
    run(sessions, perSession) {
      return new Promise((resolve, reject) => {
        const onExit = (code: number | null, signal: string | null) => reject(new Error(`worker exited (${code ?? signal}) during a run`));
        child.once('exit', onExit);
        child.once('message', (message: FromWorker) => {
          child.off('exit', onExit);
          if (message.type === 'result') resolve(message);
        });
        child.send({ type: 'run', sessions, perSession } satisfies ToWorker);
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'exit' } satisfies ToWorker);
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
