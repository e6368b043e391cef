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
    server: 'adapters/server/index.ts',
    next: 'adapters/next/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  splitting: true,
  treeshake: true,
  clean: true,
  target: 'es2022',
  external: ['xstate', 'msw', 'oauth4webapi', 'axios', 'redis', 'ioredis', 'react', '@xstate/react', 'next', /^next\//, 'express', 'fastify'],
});
