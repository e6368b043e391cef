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

export default defineConfig({
  entry: {
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
  },
  format: ['esm', 'cjs'],
  dts: true,
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
