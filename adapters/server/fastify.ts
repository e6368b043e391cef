/**
 * Fastify 5: a plugin that gives every request of a signed-in user a valid upstream access
 * token, and a backend-for-frontend proxy plugin. Written against the few members of
 * Fastify it uses, so fastify is never imported.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { InvalidOptionsError } from '../core/errors.js';
import type { TokenSet } from '../core/ports.js';
import {
  bodyTooLarge,
  csrfFailure,
  forward,
  isHttpFailure,
  resolveBff,
  resolveCsrf,
  returnedHeaders,
  type BffOptions,
  type CsrfOptions,
  type HeaderReader,
} from './bff.js';
import { httpFailureOf, type HttpFailure } from './http-errors.js';
import { createNodeAuth, isRequestAuth, requestOrigin, type RequestAuth, type ServerAuthOptions } from './node-auth.js';

/** The members of a Fastify request the integration reads. */
export interface FastifyRequestLike {
  raw: IncomingMessage;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  protocol: string;
  host: string;
  body?: unknown;
  params?: unknown;
}

/** The members of a Fastify reply the integration uses. */
export interface FastifyReplyLike {
  raw: ServerResponse;
  readonly sent: boolean;
  code(statusCode: number): FastifyReplyLike;
  header(name: string, value: unknown): FastifyReplyLike;
  getHeader(name: string): unknown;
  send(payload?: unknown): FastifyReplyLike;
}

/** The members of a Fastify instance the plugins use. Method syntax: Fastify's overloads fit it. */
export interface FastifyInstanceLike {
  addHook(name: 'preHandler', hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
  decorateRequest(name: string, value: null): unknown;
  hasRequestDecorator(name: string): boolean;
  removeAllContentTypeParsers(): unknown;
  addContentTypeParser(
    contentType: string,
    options: { parseAs: 'buffer'; bodyLimit: number },
    parser: (request: FastifyRequestLike, body: Buffer, done: (error: Error | null, body?: unknown) => void) => void,
  ): unknown;
  setErrorHandler(handler: (error: { statusCode?: number }, request: FastifyRequestLike, reply: FastifyReplyLike) => unknown): unknown;
  all(path: string, handler: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
}

/** A Fastify plugin, as `app.register()` takes it. */
export type FastifyPluginLike = (instance: FastifyInstanceLike, options: Record<string, unknown>) => Promise<void>;

export interface FastifyAuth {
  /**
   * A Fastify plugin: every route of the scope it is registered in gets `request.authchart`
   * (a valid access token and a `fetch` that attaches it), or a JSON error answer: 401
   * `not_signed_in` / `session_expired`, 503 `unavailable` with `Retry-After`. Register it
   * before the routes, inside the scope that needs it.
   * @example
   * await app.register(async (api) => {
   *   await api.register(auth.plugin)
   *   api.get('/me', async (request) => auth.of(request).fetch('https://api.example.com/me').then((r) => r.json()))
   * }, { prefix: '/api' })
   */
  plugin: FastifyPluginLike;
  /**
   * The same check as a `preHandler` hook, for single routes.
   * @example
   * app.get('/api/me', { preHandler: auth.requireToken }, async (request) => ({ signedIn: Boolean(auth.of(request)) }))
   */
  requireToken(request: FastifyRequestLike, reply: FastifyReplyLike): Promise<unknown>;
  /**
   * A Fastify plugin: a backend-for-frontend proxy. `<prefix>/<path>` is forwarded to
   * `<upstream>/<path>` with the bearer token, after the cross-site check. Bodies are
   * forwarded as they came (its scope has its own raw body parser).
   * @example
   * await app.register(auth.proxy({ upstream: 'https://api.example.com' }), { prefix: '/bff' })
   */
  proxy(options: BffOptions): FastifyPluginLike;
  /**
   * A `preHandler` hook: the proxy's cross-site check (see {@link CsrfOptions}) for your
   * own cookie-authenticated routes (sign-in, sign-out, forms). Refused: 403 `csrf_rejected`.
   * @example
   * app.post('/logout', { preHandler: auth.csrf() }, async (request, reply) => { await auth.logout(request, reply); return reply.redirect('/', 303) })
   */
  csrf(options?: CsrfOptions): (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>;
  /** Sign in: store the tokens under a new session id and set the session cookie. Resolves with the id. */
  login(reply: FastifyReplyLike, tokens: TokenSet): Promise<string>;
  /** Sign out: end the request's session and delete the cookie. */
  logout(request: FastifyRequestLike, reply: FastifyReplyLike): Promise<void>;
  /** The request's {@link RequestAuth}; throws when neither `plugin` nor `requireToken` ran for it. */
  of(request: FastifyRequestLike): RequestAuth;
}

function sendFailure(reply: FastifyReplyLike, answer: HttpFailure): FastifyReplyLike {
  reply.code(answer.status);
  for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value);
  return reply.send(JSON.stringify(answer.body));
}

function appendSetCookie(reply: FastifyReplyLike, value: string): void {
  const existing = reply.getHeader('set-cookie');
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)];
  reply.header('set-cookie', [...list, value]);
}

const headerReader =
  (headers: IncomingHttpHeaders): HeaderReader =>
  (name) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };

function abortOnClose(reply: FastifyReplyLike): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableEnded) controller.abort();
  };
  reply.raw.once('close', onClose);
  return { signal: controller.signal, done: () => reply.raw.off('close', onClose) };
}

/** Mark a plugin as not encapsulated (what `fastify-plugin` does), so its hook reaches the scope it is registered in. */
function shared<T extends FastifyPluginLike>(plugin: T, name: string): T {
  const marked = plugin as unknown as Record<symbol, unknown>;
  marked[Symbol.for('skip-override')] = true;
  marked[Symbol.for('fastify.display-name')] = name;
  marked[Symbol.for('plugin-meta')] = { name, fastify: '5.x' };
  return plugin;
}

/**
 * Fastify 5 integration: a plugin (or a `preHandler`) that resolves the request's token,
 * a backend-for-frontend proxy plugin, `login` and `logout` over a session id cookie.
 * @example
 * import Fastify from 'fastify'
 * import { fastifyAuth } from 'authchart/server'
 *
 * const auth = fastifyAuth({ sessions, allowedOrigins: ['https://api.example.com'] })
 * const app = Fastify()
 * await app.register(auth.proxy({ upstream: 'https://api.example.com' }), { prefix: '/bff' })
 * app.post('/logout', async (request, reply) => { await auth.logout(request, reply); return { ok: true } })
 */
export function fastifyAuth(options: ServerAuthOptions): FastifyAuth {
  const core = createNodeAuth(options);
  const decorate = (instance: FastifyInstanceLike) => {
    if (!instance.hasRequestDecorator('authchart')) instance.decorateRequest('authchart', null);
  };
  const attach = (request: FastifyRequestLike, auth: RequestAuth) => {
    (request as FastifyRequestLike & { authchart?: RequestAuth }).authchart = auth;
  };

  const requireToken = async (request: FastifyRequestLike, reply: FastifyReplyLike) => {
    const { signal, done } = abortOnClose(reply);
    try {
      const result = await core.resolve(request.raw, signal);
      if (!isRequestAuth(result)) return sendFailure(reply, result);
      attach(request, result);
      return undefined;
    } finally {
      done();
    }
  };

  return {
    plugin: shared(async (instance) => {
      decorate(instance);
      instance.addHook('preHandler', requireToken);
    }, 'authchart'),
    requireToken,
    proxy(bffOptions) {
      const bff = resolveBff(bffOptions);
      const allowed = [bff.base.origin];
      // Encapsulated on purpose: its raw body parser and error handler stay in its scope.
      return async (instance) => {
        decorate(instance);
        instance.removeAllContentTypeParsers();
        instance.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: bff.maxBodyBytes }, (_request, body, done) => done(null, body));
        instance.setErrorHandler((error: { statusCode?: number }, _request: unknown, reply: FastifyReplyLike) => {
          if (error?.statusCode === 413) return sendFailure(reply, bodyTooLarge());
          const answer = httpFailureOf(error, { retryAfterSeconds: options.retryAfterSeconds });
          if (answer) return sendFailure(reply, answer);
          throw error;
        });
        instance.all('/*', async (request: FastifyRequestLike, reply: FastifyReplyLike) => {
          const header = headerReader(request.headers);
          const refused = csrfFailure(bff, request.method, header, requestOrigin(request.protocol, request.host));
          if (refused) return sendFailure(reply, refused);
          const { signal, done } = abortOnClose(reply);
          try {
            const auth = await core.resolve(request.raw, signal);
            if (!isRequestAuth(auth)) return sendFailure(reply, auth);
            attach(request, auth);
            const rest = (request.params as Record<string, string> | undefined)?.['*'] ?? '';
            const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
            const body = request.body instanceof Uint8Array ? request.body : undefined;
            const answer = await forward(
              bff,
              { method: request.method, path: `/${rest}${query}`, header, body, signal },
              core.fetchFor(auth.sessionId, allowed),
            );
            if (isHttpFailure(answer)) return sendFailure(reply, answer);
            reply.code(answer.status);
            for (const [name, value] of returnedHeaders(bff, answer)) reply.header(name, value);
            if (!answer.body || request.method === 'HEAD') {
              await answer.body?.cancel().catch(() => undefined);
              return reply.send();
            }
            return reply.send(Readable.fromWeb(answer.body as unknown as NodeReadableStream<Uint8Array>));
          } finally {
            done();
          }
        });
      };
    },
    csrf(csrfOptions) {
      const check = resolveCsrf(csrfOptions ?? {});
      return async (request, reply) => {
        const refused = csrfFailure(check, request.method, headerReader(request.headers), requestOrigin(request.protocol, request.host));
        return refused ? sendFailure(reply, refused) : undefined;
      };
    },
    async login(reply, tokens) {
      const { sessionId, setCookie } = await core.login(tokens);
      appendSetCookie(reply, setCookie);
      return sessionId;
    },
    async logout(request, reply) {
      const { setCookie } = await core.logout(request.raw);
      appendSetCookie(reply, setCookie);
    },
    of(request) {
      const auth = (request as FastifyRequestLike & { authchart?: RequestAuth | null }).authchart;
      if (!auth)
        throw new InvalidOptionsError('request.authchart is not set: register auth.plugin in this scope (or use auth.requireToken as the preHandler).');
      return auth;
    },
  };
}
