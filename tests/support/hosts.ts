/**
 * One real HTTP server on 127.0.0.1 that answers for several host names (`api.test`,
 * `evil.api.test`, …), and the DNS lookup that sends every `*.test` name to it. Each request
 * is recorded with the `Authorization` it carried, so a test can say which host saw the token.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { LookupFunction } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Seen {
  host: string;
  path: string;
  method: string;
  authorization: string | undefined;
  body: string;
}

export interface Hosts {
  port: number;
  /** `http://<host>:<port><path>` */
  url(host: string, path?: string): string;
  /** Every request so far. */
  seen: Seen[];
  close(): Promise<void>;
}

export type Route = (request: Seen, response: ServerResponse, hosts: Hosts) => void;

/** Resolve every `*.test` name (and `localhost`) to 127.0.0.1; node's, axios's and undici's callers all fit this shape. */
export const testLookup = ((hostname: string, options: { all?: boolean } | ((...args: unknown[]) => void), callback?: (...args: unknown[]) => void) => {
  const done = (typeof options === 'function' ? options : callback)!;
  const all = typeof options === 'object' && options?.all === true;
  if (!/(^|\.)test$|^localhost$/.test(hostname)) {
    done(Object.assign(new Error(`not a test host: ${hostname}`), { code: 'ENOTFOUND' }));
    return;
  }
  if (all) done(null, [{ address: '127.0.0.1', family: 4 }]);
  else done(null, '127.0.0.1', 4);
}) as LookupFunction;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Start the server; `route` answers each request (the request is recorded first). */
export async function startHosts(route: Route): Promise<Hosts> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const request: Seen = {
        host: (req.headers.host ?? '').replace(/:\d+$/, ''),
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        authorization: req.headers.authorization,
        body,
      };
      seen.push(request);
      route(request, res, hosts);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const hosts: Hosts = {
    port,
    url: (host, path = '/') => `http://${host}:${port}${path}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return hosts;
}

/** A port on 127.0.0.1 nothing listens on (taken, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Send a redirect. */
export function redirect(response: ServerResponse, status: number, location: string): void {
  response.writeHead(status, { location, 'content-length': '0' });
  response.end();
}

/** Send JSON. */
export function json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  response.end(text);
}
