import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig, type InlineConfig } from 'vite';
import { demoBackend, type DemoBackendOptions } from './backend.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));
const source = (path: string) => fileURLToPath(new URL(`../../adapters/${path}`, import.meta.url));

/**
 * The example's Vite configuration. `authchart/*` resolves to this repository's sources,
 * so the example always runs the code under test.
 */
export function dashboardConfig(backend: DemoBackendOptions = {}): InlineConfig {
  return {
    root: here,
    plugins: [react(), demoBackend(backend)],
    resolve: {
      alias: [
        { find: /^authchart\/react$/, replacement: source('react/index.ts') },
        { find: /^authchart\/machine$/, replacement: source('machine/index.ts') },
        { find: /^authchart\/fetch$/, replacement: source('fetch/index.ts') },
        { find: /^authchart\/oauth$/, replacement: source('oauth/index.ts') },
        { find: /^authchart$/, replacement: source('index.ts') },
      ],
    },
    server: { host: '127.0.0.1', port: 5173, fs: { allow: [repo] } },
    preview: { host: '127.0.0.1', port: 4173 },
    build: { outDir: 'dist', emptyOutDir: true },
  };
}

export default defineConfig(dashboardConfig());
