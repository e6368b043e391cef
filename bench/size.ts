/**
 * Bundle sizes, min+gzip: each authchart entry point without its peers (`scripts/size.mjs`,
 * which needs a fresh `dist/`), xstate alone, and axios-auth-refresh (axios left out).
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';

export interface SizeRow {
  name: string;
  min: number;
  gzip: number;
}

export async function bundleSizes(): Promise<SizeRow[]> {
  const built = spawnSync('npx', ['tsup', '--silent'], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`tsup failed: ${built.stderr || built.stdout}`);
  // A plain script shared with `npm run size`; its rows are { name, min, gzip }.
  const script = '../scripts/size.mjs';
  const { sizes } = (await import(script)) as { sizes: () => Promise<SizeRow[]> };
  const rows = await sizes();
  const peer = await build({
    stdin: { contents: `export * from 'axios-auth-refresh';`, resolveDir: process.cwd(), loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    external: ['axios'],
    write: false,
    logLevel: 'silent',
  });
  const code = peer.outputFiles[0]!.contents;
  rows.push({ name: 'axios-auth-refresh 5.x (peer)', min: code.length, gzip: gzipSync(code, { level: 9 }).length });
  return rows;
}
