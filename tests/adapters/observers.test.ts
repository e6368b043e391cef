/** Observers never break the session (issue 11 item 10); a process with nothing due exits (item 11). */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { createHarness, track, useMockNetwork } from '../support/harness.js';

useMockNetwork();

describe('observers that throw', () => {
  it('a throwing logger and a throwing inspector: the herd still gets one refresh and every request succeeds', async () => {
    const { server, authFetch, api } = await createHarness({
      client: {
        logger: () => {
          throw new Error('logger down');
        },
        inspect: () => {
          throw new Error('inspector down');
        },
      },
    });
    server.expireAccessTokens();
    const herd = Array.from({ length: 10 }, (_, i) => track(authFetch(api(`/h${i}`))));
    await vi.advanceTimersByTimeAsync(500);
    expect(herd.map((r) => (r.value as Response | undefined)?.status)).toEqual(Array(10).fill(200));
    expect(server.stats.refreshCalls).toBe(1);
    expect(authFetch.getStatus().state).toBe('idle');
  });

  it('a throwing listener does not stop the others', async () => {
    const { server, authFetch } = await createHarness();
    const heard: string[] = [];
    authFetch.on('refreshed', () => {
      throw new Error('listener down');
    });
    authFetch.on('refreshed', () => heard.push('second'));
    server.expireAccessTokens();
    const done = track(authFetch.refresh());
    await vi.advanceTimersByTimeAsync(200);
    expect(done.error).toBeUndefined();
    expect(heard).toEqual(['second']);
  });
});

describe('a Node process with nothing due exits by itself', () => {
  it('one request with an opaque token (no expiry), no dispose(): the script ends', () => {
    vi.useRealTimers();
    const script = fileURLToPath(new URL('../support/one-request.ts', import.meta.url));
    const started = Date.now();
    const result = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 90_000 });
    expect(result.error, 'the script did not exit within 90 s').toBeUndefined();
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('token: opaque-token');
    console.info(`[exit] the script ended ${Date.now() - started} ms after it started`);
  }, 120_000);
});
