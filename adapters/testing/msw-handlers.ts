import { delay, http, HttpResponse, type HttpHandler } from 'msw';
import { resourceReply, type TokenServer, type TokenServerReply } from './token-server.js';

export interface TokenServerHandlerOptions {
  /** @default 'https://auth.authchart.test' */
  authOrigin?: string;
  /** @default '/oauth/token' */
  tokenPath?: string;
  /** @default 'https://api.authchart.test' */
  apiOrigin?: string;
  /** Every method under this path is the protected resource. @default '/api' */
  apiPath?: string;
}

/** The default URLs of {@link tokenServerHandlers}. */
export const testUrls = {
  tokenEndpoint: 'https://auth.authchart.test/oauth/token',
  api: 'https://api.authchart.test/api',
} as const;

function toResponse(reply: TokenServerReply): Response {
  switch (reply.kind) {
    case 'reset':
      return HttpResponse.error();
    case 'html':
      return new HttpResponse(reply.body, { status: reply.status, headers: { 'content-type': 'text/html' } });
    case 'json':
      return HttpResponse.json(reply.body, { status: reply.status, headers: reply.headers });
  }
}

/**
 * msw handlers serving a {@link TokenServer}: its token endpoint and a protected resource.
 * @example
 * const tokens = createTokenServer()
 * const mock = setupServer(...tokenServerHandlers(tokens))
 */
export function tokenServerHandlers(server: TokenServer, options: TokenServerHandlerOptions = {}): HttpHandler[] {
  const authOrigin = options.authOrigin ?? 'https://auth.authchart.test';
  const apiOrigin = options.apiOrigin ?? 'https://api.authchart.test';
  const tokenPath = options.tokenPath ?? '/oauth/token';
  const apiPath = options.apiPath ?? '/api';
  return [
    http.post(`${authOrigin}${tokenPath}`, async ({ request }) => {
      const form = new URLSearchParams(await request.text());
      const reply = await server.token({ form, authorization: request.headers.get('authorization') }, (ms) => delay(ms));
      return toResponse(reply);
    }),
    http.all(`${apiOrigin}${apiPath}/*`, async ({ request }) => {
      const check = server.authenticate(request.headers.get('authorization'));
      const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.text();
      return toResponse(resourceReply(check, { method: request.method, path: new URL(request.url).pathname, body }));
    }),
  ];
}
