import path from 'node:path';
import type { NextConfig } from 'next';

// The example lives inside the authchart repository and imports the package by its own
// name (`authchart/next`, resolved to ../../dist): the repository root is the project root.
const root = path.join(import.meta.dirname, '../..');

const config: NextConfig = {
  turbopack: { root },
  outputFileTracingRoot: root,
  // The repository type-checks the example itself (`npm run typecheck`).
  typescript: { ignoreBuildErrors: true },
  // Redis clients open sockets: keep them out of the bundles.
  serverExternalPackages: ['redis', '@redis/client'],
  poweredByHeader: false,
};

export default config;
