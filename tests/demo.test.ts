import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// The README's main command, end to end against its real HTTP servers (real time).
describe('npm start (the demo)', () => {
  it('shows the naive client logged out and authchart with one token call and 50/50', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'demo/herd.ts'], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const rows = run.stdout.split('\n').filter((line) => /^\s+(naive|authchart)\s+\d/.test(line));
    expect(rows).toHaveLength(2);
    const [naive, authchart] = rows.map((line) => line.trim().split(/\s{2,}/));
    expect(naive).toEqual([
      'naive',
      expect.stringMatching(/^([2-9]|[1-9]\d+)$/),
      expect.stringMatching(/^\d+\/50$/),
      expect.any(String),
      'no',
      expect.any(String),
    ]);
    expect(naive![2]).not.toBe('50/50');
    expect(authchart!.slice(0, 5)).toEqual(['authchart', '1', '50/50', '0', 'yes']);
    expect(run.stdout).toContain('rotated (the session lives)');
    // The demo prints no token.
    expect(run.stdout).not.toMatch(/\b(at|rt)_[0-9a-f]{36}\b/);
  });
});
