import { defineConfig } from 'tsup';

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
    apollo: 'adapters/apollo/index.ts',
    urql: 'adapters/urql/index.ts',
    'graphql-ws': 'adapters/graphql-ws/index.ts',
    'tanstack-query': 'adapters/tanstack-query/index.ts',
    vue: 'adapters/vue/index.ts',
    svelte: 'adapters/svelte/index.ts',
    angular: 'adapters/angular/index.ts',
    'react-native': 'adapters/react-native/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  splitting: true,
  treeshake: true,
  clean: true,
  target: 'es2022',
  // Peers, with their subpaths (`@apollo/client/link`, `@angular/common/http`, `svelte/store`).
  external: [
    'xstate', 'msw', 'oauth4webapi', 'axios', 'redis', 'ioredis', 'react', '@xstate/react',
    /^@apollo\/client(\/|$)/, /^rxjs(\/|$)/, /^@urql\/core(\/|$)/, 'wonka', /^graphql-ws(\/|$)/, /^@tanstack\/query-core(\/|$)/,
    'vue', /^svelte(\/|$)/, /^@angular\/(core|common)(\/|$)/,
  ],
});
