import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { defineConfig, type Options } from 'tsup';

/**
 * Code splitting hoists `import './chunk-….js'` into the ESM entries, for chunks that a
 * chunk they import already imports. Such a statement binds nothing; with
 * `"sideEffects": false` bundlers drop it anyway, and esbuild warns that it does
 * ("Ignoring this import because … was marked as having no side effects"). Drop them here,
 * so the package bundles without warnings; what an entry uses it imports by name. (The CJS
 * entries' bare `require()`s draw no warning.)
 */
const dropBareChunkImports: NonNullable<Options['plugins']>[number] = {
  name: 'drop-bare-chunk-imports',
  renderChunk(code) {
    if (this.format !== 'esm') return undefined;
    const kept = code.replace(/^import ['"]\.\/chunk-[\w-]+\.js['"];\r?\n/gm, '');
    return kept === code ? undefined : { code: kept };
  },
};

const entry = {
  index: 'adapters/index.ts',
  fetch: 'adapters/fetch/index.ts',
  oauth: 'adapters/oauth/index.ts',
  axios: 'adapters/axios/index.ts',
  presets: 'adapters/presets/index.ts',
  'cross-tab': 'adapters/cross-tab/index.ts',
  react: 'adapters/react/index.ts',
  testing: 'adapters/testing/index.ts',
  'testing-node': 'adapters/testing/node.ts',
  redis: 'adapters/redis/index.ts',
  postgres: 'adapters/postgres/index.ts',
  server: 'adapters/server/index.ts',
  machine: 'adapters/machine/index.ts',
  apollo: 'adapters/apollo/index.ts',
  urql: 'adapters/urql/index.ts',
  'graphql-ws': 'adapters/graphql-ws/index.ts',
  'tanstack-query': 'adapters/tanstack-query/index.ts',
  vue: 'adapters/vue/index.ts',
  svelte: 'adapters/svelte/index.ts',
  angular: 'adapters/angular/index.ts',
  'react-native': 'adapters/react-native/index.ts',
  next: 'adapters/next/index.ts',
};

/**
 * The type build (rollup-plugin-dts inside tsup) makes a TypeScript program for every run of
 * entries that share a directory, and each of ours has a directory of its own: 22 programs,
 * each parsing Next.js's and Node's types and checking the core again, 80 s of a 4 s build.
 * Entries that all live in one directory share one program (after the first, which starts a
 * group of its own): one line each, `export *` from the real entry, written here at build
 * time in `.build/` (ignored by git) when this config is loaded. The declarations they give are the same.
 */
function typeEntries(): Record<string, string> {
  const dir = join('.build', 'type-entries');
  mkdirSync(dir, { recursive: true });
  return Object.fromEntries(
    Object.entries(entry).map(([name, source]) => {
      const file = join(dir, `${name}.ts`);
      const target = relative(dir, source).replace(/\\/g, '/').replace(/\.ts$/, '.js');
      writeFileSync(file, `export * from '${target}';\n`);
      return [name, file];
    }),
  );
}

export default defineConfig({
  entry,
  format: ['esm', 'cjs'],
  dts: { entry: typeEntries() },
  splitting: true,
  treeshake: true,
  clean: true,
  target: 'es2022',
  // Peers, with their subpaths (`@apollo/client/link`, `@angular/common/http`, `svelte/store`).
  external: [
    'xstate',
    'msw',
    'oauth4webapi',
    'axios',
    'redis',
    'ioredis',
    'pg',
    'react',
    '@xstate/react',
    'next',
    /^next\//,
    'express',
    'fastify',
    /^@apollo\/client(\/|$)/,
    /^rxjs(\/|$)/,
    /^@urql\/core(\/|$)/,
    'wonka',
    /^graphql-ws(\/|$)/,
    /^@tanstack\/query-core(\/|$)/,
    'vue',
    /^svelte(\/|$)/,
    /^@angular\/(core|common)(\/|$)/,
  ],
  plugins: [dropBareChunkImports],
});
