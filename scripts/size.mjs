#!/usr/bin/env node
// Size of each entry point, minified and gzipped, as an app's bundler would include it:
// everything the entry exports, with xstate (a peer), Node's modules and Next.js left out. Code an entry imports
// dynamically (DPoP for requests, loaded the first time a DPoP-bound token is sent) is in a
// chunk of its own, measured on its own row. Needs `npm run build` first.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { existsSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';

/** Dynamic imports stay out of the entry's bundle, as a bundler splits them into their own chunk. */
const lazyChunks = {
  name: 'lazy-chunks',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined));
  },
};

/** The chunks entries import dynamically, by what they hold. */
const lazy = {
  'DPoP for requests (lazy, on first use)': /^request-proofs-.*\.js$/,
};

const entries = {
  'authchart (core)': 'dist/index.js',
  'authchart/fetch': 'dist/fetch.js',
  'authchart/oauth (with oauth4webapi)': 'dist/oauth.js',
  'authchart/axios': 'dist/axios.js',
  'authchart/cross-tab': 'dist/cross-tab.js',
  'authchart/presets (with oauth4webapi)': 'dist/presets.js',
  'authchart/apollo': 'dist/apollo.js',
  'authchart/urql': 'dist/urql.js',
  'authchart/graphql-ws': 'dist/graphql-ws.js',
  'authchart/tanstack-query': 'dist/tanstack-query.js',
  'authchart/vue': 'dist/vue.js',
  'authchart/svelte': 'dist/svelte.js',
  'authchart/angular': 'dist/angular.js',
  'authchart/react-native': 'dist/react-native.js',
  'authchart/server (Node)': 'dist/server.js',
  'authchart/next': 'dist/next.js',
};

/** Peers the integrations import: the app has them already. */
const peers = ['xstate', 'axios', '@apollo/client', '@apollo/client/*', 'rxjs', '@urql/core', 'wonka', 'graphql-ws', 'vue', 'svelte', 'svelte/*', '@angular/*'];

async function measure(file, external) {
  const result = await build({
    stdin: { contents: `export * from ${JSON.stringify(`./${file}`)};`, resolveDir: process.cwd(), loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    external,
    plugins: [lazyChunks],
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  return { min: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

export async function sizes() {
  const rows = [];
  for (const [name, file] of Object.entries(entries)) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
    rows.push({ name, ...(await measure(file, [...peers, 'next', 'next/*', 'node:*', ...builtinModules])) });
  }
  for (const [name, pattern] of Object.entries(lazy)) {
    const file = readdirSync('dist').find((f) => pattern.test(f));
    if (!file) throw new Error(`no chunk matches ${pattern} in dist/: run npm run build first`);
    rows.push({ name, ...(await measure(`dist/${file}`, ['xstate', 'axios'])) });
  }
  // xstate alone, for comparison: what the machine needs at run time.
  const xstate = await build({
    stdin: { contents: `export { setup, assign, emit, fromPromise, createActor } from 'xstate';`, resolveDir: process.cwd(), loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    write: false,
    logLevel: 'silent',
  });
  const code = xstate.outputFiles[0].contents;
  rows.push({ name: 'xstate (what authchart uses of it)', min: code.length, gzip: gzipSync(code, { level: 9 }).length });
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await sizes();
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  console.log(`${'entry'.padEnd(40)}${'min'.padStart(10)}${'min+gzip'.padStart(12)}`);
  for (const row of rows) console.log(`${row.name.padEnd(40)}${kb(row.min).padStart(10)}${kb(row.gzip).padStart(12)}`);
}
