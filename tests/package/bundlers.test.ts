/**
 * The package as an app's bundler sees it: built with the project's tsup config into a
 * temporary workspace package (with the real package.json, so `exports` and
 * `"sideEffects": false` apply) linked from the app's `node_modules`, as npm, yarn and
 * pnpm workspaces link it, then every subpath bundled by esbuild (ESM and CJS) and by Vite
 * (Rolldown). None may warn. (Linked, the package's real path is outside `node_modules`,
 * where esbuild shows warnings about a package's code instead of hiding them.)
 */
import { build as esbuild } from 'esbuild';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build as tsup, type Options } from 'tsup';
import { build as vite, createLogger } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import config from '../../tsup.config.js';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  exports: Record<string, { import: { default: string }; require: { default: string } }>;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};
/** Node-only entries are bundled for Node; the others for the browser. */
const NODE_ONLY = new Set(['authchart/redis', 'authchart/postgres', 'authchart/server', 'authchart/testing/node']);
const subpaths = Object.keys(pkg.exports)
  .filter((key) => key !== './package.json')
  .map((key) => (key === '.' ? 'authchart' : `authchart/${key.slice(2)}`));
/** Other packages are the app's to resolve (they are not installed next to this temporary copy). */
const others = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)];
const isExternal = (id: string) => id.startsWith('node:') || others.some((name) => id === name || id.startsWith(`${name}/`));

let app: string;
beforeAll(async () => {
  app = mkdtempSync(join(tmpdir(), 'authchart-bundlers-'));
  const target = join(app, 'packages', 'authchart');
  mkdirSync(target, { recursive: true });
  mkdirSync(join(app, 'node_modules'));
  symlinkSync(target, join(app, 'node_modules', 'authchart'), 'dir');
  cpSync('package.json', join(target, 'package.json'));
  // Declarations are not bundled: skip them, the rest is the published build.
  // The app has the packages authchart imports (linked from this repository's).
  for (const name of others) {
    if (existsSync(join('node_modules', name))) {
      mkdirSync(join(app, 'node_modules', name, '..'), { recursive: true });
      symlinkSync(resolve('node_modules', name), join(app, 'node_modules', name), 'dir');
    }
  }
  await tsup({ ...(config as Options), outDir: join(target, 'dist'), dts: false, silent: true });
}, 120_000);

/** The files `exports` maps a subpath to. */
const exportOf = (subpath: string) => pkg.exports[subpath === 'authchart' ? '.' : `./${subpath.slice('authchart/'.length)}`]!;
/** The source entry of each subpath, from tsup's entry map. */
const sourceOf = (subpath: string) => {
  const name = subpath === 'authchart' ? 'index' : subpath.slice('authchart/'.length).replace('/', '-');
  return (config as { entry: Record<string, string> }).entry[name]!;
};
afterAll(() => rmSync(app, { recursive: true, force: true }));

describe.each(subpaths)('%s bundles without a warning', (subpath) => {
  const platform = NODE_ONLY.has(subpath) ? 'node' : 'browser';

  it('the built entry exports what the source does, imported and required', async () => {
    // Angular's decorators need its JIT compiler when loaded outside an Angular build.
    if (subpath === 'authchart/angular') await import('@angular/compiler');
    const expected = Object.keys(await import(`../../${sourceOf(subpath)}`)).sort();
    const built = (condition: 'import' | 'require') => join(app, 'packages', 'authchart', exportOf(subpath)[condition].default);
    const esm = (await import(pathToFileURL(built('import')).href)) as object;
    const cjs = createRequire(import.meta.url)(built('require')) as object;
    expect(Object.keys(esm).sort()).toEqual(expected);
    expect(Object.keys(cjs).sort()).toEqual(expected);
  });

  it('esbuild, imported (ESM) and required (CJS)', async () => {
    const warnings: string[] = [];
    for (const [file, source, format] of [
      ['entry.mjs', `export * from '${subpath}';\n`, 'esm'],
      ['entry.cjs', `module.exports = require('${subpath}');\n`, 'cjs'],
    ] as const) {
      writeFileSync(join(app, file), source);
      const result = await esbuild({
        entryPoints: [join(app, file)],
        bundle: true,
        platform,
        format,
        write: false,
        logLevel: 'silent',
        plugins: [
          { name: 'peers', setup: (b) => b.onResolve({ filter: /.*/ }, (args) => (isExternal(args.path) ? { path: args.path, external: true } : undefined)) },
        ],
      });
      warnings.push(...result.warnings.map((w) => `${format}: ${w.text} (${w.location?.file})`));
    }
    expect(warnings).toEqual([]);
  });

  it('Vite (Rolldown)', async () => {
    const warnings: string[] = [];
    const logger = createLogger('warn');
    logger.warn = (message) => void warnings.push(message);
    logger.warnOnce = (message) => void warnings.push(message);
    const entry = join(app, `vite-${subpath.replace(/\W/g, '-')}.mjs`);
    writeFileSync(entry, `export * from '${subpath}';\n`);
    await vite({
      root: app,
      configFile: false,
      logLevel: 'warn',
      customLogger: logger,
      build: {
        write: false,
        ssr: platform === 'node',
        lib: { entry, formats: ['es'], fileName: 'bundle' },
        rollupOptions: { external: isExternal, onwarn: (warning) => void warnings.push(warning.message) },
      },
    });
    expect(warnings).toEqual([]);
  });
});

describe('DPoP for requests stays out of the bundle until it is used', () => {
  /** Bundle `source` for the browser; dynamic imports stay out, as a bundler splits them into chunks of their own. */
  const initialChunk = async (source: string) => {
    writeFileSync(join(app, 'lazy-entry.mjs'), source);
    const result = await esbuild({
      entryPoints: [join(app, 'lazy-entry.mjs')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      plugins: [
        {
          name: 'peers-and-lazy-chunks',
          setup: (b) =>
            b.onResolve({ filter: /.*/ }, (args) =>
              isExternal(args.path) || args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined,
            ),
        },
      ],
    });
    return result.outputFiles[0]!.text;
  };

  it.each(['authchart/fetch', 'authchart/axios', 'authchart'])('%s: the proof code is a chunk of its own, imported dynamically', async (subpath) => {
    const code = await initialChunk(`export * from '${subpath}';\n`);
    // The proof header's type is written only by the proof code.
    expect(code).not.toContain('dpop+jwt');
    expect(code).toMatch(/import\(["']\.\/request-proofs-[\w-]+\.js["']\)/);
    const chunk = /import\(["']\.\/(request-proofs-[\w-]+\.js)["']\)/.exec(code)![1]!;
    expect(readFileSync(join(app, 'packages', 'authchart', 'dist', chunk), 'utf8')).toContain('dpop+jwt');
  });
});
