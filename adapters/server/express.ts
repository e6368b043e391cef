/**
 * Express 5 (and Connect, node:http): middleware that gives every request of a signed-in
 * user a valid upstream access token, and a backend-for-frontend proxy. Plain
 * `(req, res, next)` functions: express is never imported.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { InvalidOptionsError } from '../core/errors.js';
import type { TokenSet } from '../core/ports.js';
import {
  bodyTooLarge,
  csrfFailure,
  forward,
  isHttpFailure,
  readBody,
  resolveBff,
  resolveCsrf,
  returnedHeaders,
  type BffOptions,
  type CsrfOptions,
  type HeaderReader,
  type ResolvedBff,
} from './bff.js';
import { httpFailureOf, type HttpFailure } from './http-errors.js';
import { createNodeAuth, isRequestAuth, requestOrigin, type RequestAuth, type ServerAuthOptions } from './node-auth.js';

declare global {
  // Express' own Request extends this interface: `req.authchart` is typed in every handler.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by authchart's `requireToken` and `proxy` middleware; undefined elsewhere. */
      authchart?: RequestAuth;
    }
  }
}

/** An Express / Connect middleware. */
export type ExpressMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

export interface ExpressAuth {
  /**
   * Middleware: a request with a session gets `req.authchart` (a valid access token, a
   * `fetch` that attaches it); one without gets 401 `not_signed_in`; an ended session
   * 401 `session_expired`; a token endpoint or store that cannot be reached 503
   * `unavailable` with `Retry-After`. One refresh per expiry, whatever the number of
   * parallel requests (and instances, with the Redis session manager).
   * @example
   * app.get('/api/me', auth.requireToken, async (req, res) => {
   *   res.json(await req.authchart!.fetch('https://api.example.com/me').then((r) => r.json()))
   * })
   */
  requireToken: ExpressMiddleware;
  /**
   * A backend-for-frontend proxy: `<mount>/<path>` is forwarded to `<upstream>/<path>` with
   * the bearer token, after the cross-site check. Mount it before any body parser.
   * @example
   * app.use('/bff', auth.proxy({ upstream: 'https://api.example.com' }))
   */
  proxy(options: BffOptions): ExpressMiddleware;
  /**
   * Middleware: the proxy's cross-site check (see {@link CsrfOptions}) for your own
   * cookie-authenticated routes (sign-in, sign-out, forms). Refused: 403 `csrf_rejected`.
   * @example
   * app.post('/logout', auth.csrf(), async (req, res) => { await auth.logout(req, res); res.redirect(303, '/') })
   */
  csrf(options?: CsrfOptions): ExpressMiddleware;
  /**
   * Sign in: store the tokens under a new session id and set the session cookie.
   * Resolves with the session id.
   * @example
   * app.post('/login', async (req, res) => { await auth.login(res, await exchangeCode(req)); res.redirect('/') })
   */
  login(res: ServerResponse, tokens: TokenSet): Promise<string>;
  /** Sign out: end the request's session and delete the cookie. */
  logout(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /**
   * The request's {@link RequestAuth}, for handlers after `requireToken`.
   * Throws when the middleware did not run for it.
   */
  of(req: IncomingMessage): RequestAuth;
}

/** Send an error answer, unless the response has started. */
export function sendFailure(res: ServerResponse, answer: HttpFailure): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(answer.status, answer.headers);
  res.end(JSON.stringify(answer.body));
}

function appendSetCookie(res: ServerResponse, value: string): void {
  const existing = res.getHeader('set-cookie');
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  res.setHeader('set-cookie', [...list, value]);
}

const headerReader =
  (req: IncomingMessage): HeaderReader =>
  (name) => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };

/** The origin of the request as the browser saw it: Express' `req.protocol` honours `trust proxy`. */
function originOf(req: IncomingMessage): string {
  const express = req as IncomingMessage & { protocol?: string; get?: (name: string) => string | undefined };
  const protocol = express.protocol ?? ((req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http');
  return requestOrigin(protocol, typeof express.get === 'function' ? express.get('host') : req.headers.host);
}

/** Stop waiting (for a refresh, for the API) when the client goes away. */
function abortOnClose(res: ServerResponse): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableEnded) controller.abort();
  };
  res.once('close', onClose);
  return { signal: controller.signal, done: () => res.off('close', onClose) };
}

async function requestBody(req: IncomingMessage, bff: ResolvedBff): Promise<Uint8Array | null | undefined> {
  const method = (req.method ?? 'GET').toUpperCase();
  if (method === 'GET' || method === 'HEAD') return undefined;
  const parsed = (req as { body?: unknown }).body;
  if (req.readableEnded && parsed !== undefined) {
    // A body parser ran first: forward what it kept.
    const bytes =
      typeof parsed === 'string' ? new TextEncoder().encode(parsed) : parsed instanceof Uint8Array ? parsed : new TextEncoder().encode(JSON.stringify(parsed));
    return bytes.byteLength > bff.maxBodyBytes ? null : bytes;
  }
  return readBody(req, bff.maxBodyBytes);
}

/** Copy the API's answer to the response, streaming its body. */
export async function sendUpstream(res: ServerResponse, bff: ResolvedBff, method: string, upstream: Response): Promise<void> {
  res.statusCode = upstream.status;
  for (const [name, value] of returnedHeaders(bff, upstream)) res.setHeader(name, value);
  if (!upstream.body || method.toUpperCase() === 'HEAD') {
    await upstream.body?.cancel().catch(() => undefined);
    res.end();
    return;
  }
  await new Promise<void>((resolve) => {
    const body = Readable.fromWeb(upstream.body as unknown as NodeReadableStream<Uint8Array>);
    body.once('error', () => {
      res.destroy();
      resolve();
    });
    res.once('close', () => {
      body.destroy();
      resolve();
    });
    body.pipe(res);
  });
}

/**
 * Typed middleware for Express 5 (also Connect and node:http): `requireToken`, a
 * backend-for-frontend `proxy`, `login` and `logout` over a session id cookie.
 * @example
 * import express from 'express'
 * import { expressAuth } from 'authchart/server'
 * import { redisSessionManager } from 'authchart/redis'
 *
 * const auth = expressAuth({ sessions: redisSessionManager({ client, subscriber, refresh }), allowedOrigins: ['https://api.example.com'] })
 * const app = express()
 * app.use('/bff', auth.proxy({ upstream: 'https://api.example.com' }))
 * app.get('/api/me', auth.requireToken, (req, res) => res.json({ token: Boolean(req.authchart?.accessToken) }))
 */
export function expressAuth(options: ServerAuthOptions): ExpressAuth {
  const core = createNodeAuth(options);
  const attach = (req: IncomingMessage, auth: RequestAuth) => {
    (req as IncomingMessage & { authchart?: RequestAuth }).authchart = auth;
  };

  const requireToken: ExpressMiddleware = (req, res, next) => {
    const { signal, done } = abortOnClose(res);
    core.resolve(req, signal).then(
      (result) => {
        done();
        if (signal.aborted) return;
        if (!isRequestAuth(result)) sendFailure(res, result);
        else {
          attach(req, result);
          next();
        }
      },
      (error: unknown) => {
        done();
        if (!signal.aborted) next(error);
      },
    );
  };

  return {
    requireToken,
    proxy(bffOptions) {
      const bff = resolveBff(bffOptions);
      const allowed = [bff.base.origin];
      return (req, res, next) => {
        const header = headerReader(req);
        const method = req.method ?? 'GET';
        const refused = csrfFailure(bff, method, header, originOf(req));
        if (refused) {
          sendFailure(res, refused);
          return;
        }
        const { signal, done } = abortOnClose(res);
        (async () => {
          const auth = await core.resolve(req, signal);
          if (!isRequestAuth(auth)) return sendFailure(res, auth);
          attach(req, auth);
          const body = await requestBody(req, bff);
          if (body === null) return sendFailure(res, bodyTooLarge());
          const answer = await forward(bff, { method, path: req.url ?? '/', header, body, signal }, core.fetchFor(auth.sessionId, allowed));
          if (signal.aborted) return;
          if (isHttpFailure(answer)) return sendFailure(res, answer);
          await sendUpstream(res, bff, method, answer);
        })().then(done, (error: unknown) => {
          done();
          if (signal.aborted) return;
          const answer = httpFailureOf(error, { retryAfterSeconds: options.retryAfterSeconds });
          if (answer) sendFailure(res, answer);
          else next(error);
        });
      };
    },
    csrf(csrfOptions) {
      const check = resolveCsrf(csrfOptions ?? {});
      return (req, res, next) => {
        const refused = csrfFailure(check, req.method ?? 'GET', headerReader(req), originOf(req));
        if (refused) sendFailure(res, refused);
        else next();
      };
    },
    async login(res, tokens) {
      const { sessionId, setCookie } = await core.login(tokens);
      appendSetCookie(res, setCookie);
      return sessionId;
    },
    async logout(req, res) {
      const { setCookie } = await core.logout(req);
      appendSetCookie(res, setCookie);
    },
    of(req) {
      const auth = (req as IncomingMessage & { authchart?: RequestAuth }).authchart;
      if (!auth) throw new InvalidOptionsError('req.authchart is not set: put auth.requireToken (or auth.proxy) before this handler.');
      return auth;
    },
  };
}
