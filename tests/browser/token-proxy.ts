/**
 * A proxy in front of the token endpoint that the test controls: each tab gets its own path,
 * so the proxy knows which tab a token call comes from, and the test can hold a call
 * (before or after it reached the server) while it freezes that tab.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, content-type, accept',
  'access-control-allow-methods': 'POST, OPTIONS',
};

/** A token call the proxy holds. */
export interface HeldTokenCall {
  /** The tab it came from. */
  tab: number;
  /** Answer it with 503 (the client never gets what the server may have answered). */
  fail(): void;
}

export interface TokenProxy {
  /** The token endpoint tab `tab` is given. */
  endpoint(tab: number): string;
  /** Every token call, in order of arrival. */
  readonly calls: { tab: number; held: boolean }[];
  /**
   * Hold the next token call. `before-server`: it is never forwarded (the server never sees
   * it). `after-server`: it is forwarded, the server answers (and rotates), and the answer is
   * held. Resolves when the call has arrived (and, after-server, been answered upstream).
   */
  holdNext(mode: 'before-server' | 'after-server'): Promise<HeldTokenCall>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Start a proxy to `upstream` (a token endpoint URL) on a free loopback port. */
export async function startTokenProxy(upstream: string): Promise<TokenProxy> {
  const calls: { tab: number; held: boolean }[] = [];
  let armed: { mode: 'before-server' | 'after-server'; arrived: (call: HeldTokenCall) => void } | undefined;
  const open = new Set<ServerResponse>();

  const forward = async (req: IncomingMessage, body: string) => {
    const answer = await fetch(upstream, {
      method: 'POST',
      headers: {
        'content-type': req.headers['content-type'] ?? 'application/x-www-form-urlencoded',
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      },
      body,
    });
    return { status: answer.status, type: answer.headers.get('content-type') ?? 'application/json', text: await answer.text() };
  };
  const fail = (res: ServerResponse) => {
    if (res.writableEnded) return;
    res.writeHead(503, { ...CORS, 'content-type': 'application/json' }).end(JSON.stringify({ error: 'temporarily_unavailable' }));
  };

  const server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS).end();
      return;
    }
    const tab = Number(/^\/tab\/(\d+)\//.exec(req.url ?? '')?.[1] ?? -1);
    open.add(res);
    res.on('close', () => open.delete(res));
    void (async () => {
      const body = await readBody(req);
      const hold = armed;
      armed = undefined;
      calls.push({ tab, held: hold !== undefined });
      if (hold?.mode === 'before-server') {
        hold.arrived({ tab, fail: () => fail(res) });
        return;
      }
      const answer = await forward(req, body);
      if (hold) {
        hold.arrived({ tab, fail: () => fail(res) });
        return;
      }
      res.writeHead(answer.status, { ...CORS, 'content-type': answer.type }).end(answer.text);
    })().catch(() => fail(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint: (tab) => `${base}/tab/${tab}/oauth/token`,
    calls,
    holdNext: (mode) => new Promise((arrived) => (armed = { mode, arrived })),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) fail(res);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
