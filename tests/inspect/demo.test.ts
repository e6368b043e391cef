import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('npm run inspect -- --once: runs the scenario through the WebSocket inspector on 127.0.0.1, relays events without a token, and stops', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'demo/inspect.ts', '--once'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, AUTHCHART_INSPECT_BACKOFF_MS: '20' },
  });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.stdout).toMatch(/logged out \(permanentFailures\)/);
  expect(run.stdout).toMatch(/Relayed [1-9]\d* inspection events; 0 contain a token\./);
  expect(run.stdout).toMatch(/open http:\/\/127\.0\.0\.1:\d+ in a browser/);
  expect(run.stdout).toMatch(/Inspector bridge stopped\./);
}, 30_000);
