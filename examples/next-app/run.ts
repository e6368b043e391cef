/**
 * `npm run example:next`: the demo's rotating token server and API on 127.0.0.1, then
 * `next dev` on http://127.0.0.1:3000. Environment:
 *   AUTHCHART_STORAGE=cookie   tokens in a sealed cookie (default: session id + server store)
 *   REDIS_URL=redis://…        share sessions / rotation results through Redis
 *   ACCESS_TOKEN_TTL=30        access-token lifetime of the demo token server, seconds
 *   PORT=3000
 * Demo only: the token server accepts any user name with the password "demo".
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTokenServer, startTestServers } from '../../adapters/testing/node.js';

const tokens = createTokenServer({ accessTokenTtlSeconds: Number(process.env.ACCESS_TOKEN_TTL ?? 30) });
const servers = await startTestServers(tokens);
const port = process.env.PORT ?? '3000';
console.log(`token endpoint ${servers.tokenEndpoint}\nAPI            ${servers.api}\napp            http://127.0.0.1:${port}\n`);

const next = spawn(
  process.execPath,
  [fileURLToPath(import.meta.resolve('next/dist/bin/next')), 'dev', fileURLToPath(new URL('.', import.meta.url)), '-H', '127.0.0.1', '-p', port],
  {
    stdio: 'inherit',
    env: { ...process.env, TOKEN_ENDPOINT: servers.tokenEndpoint, API_URL: servers.api, NEXT_TELEMETRY_DISABLED: '1' },
  },
);
const stop = () => {
  next.kill('SIGTERM');
  void servers.close();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
next.once('exit', (code) => {
  void servers.close();
  process.exit(code ?? 0);
});
