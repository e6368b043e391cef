/**
 * Redirects followed by hand, so that the token is decided again at every hop instead of by
 * whichever `fetch` the app runs on (node-fetch keeps `Authorization` on a redirect to a
 * subdomain; older engines kept it everywhere). The steps are the Fetch standard's
 * "HTTP-redirect fetch", except who gets `Authorization`: the allowed origins, and only them.
 * @see https://fetch.spec.whatwg.org/#http-redirect-fetch
 */

/** The statuses fetch follows (Fetch standard: redirect status). */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Fetch's own limit. */
const MAX_REDIRECTS = 20;
/** Headers that describe a body; dropped when a redirect turns the request into a GET. */
const REQUEST_BODY_HEADERS = ['content-encoding', 'content-language', 'content-location', 'content-type'];

/** Whether fetch would follow this response (a redirect status with a Location). */
export function isRedirect(response: Response): boolean {
  return REDIRECT_STATUSES.has(response.status) && response.headers.has('location');
}

export interface Hop {
  url: string;
  method: string;
  /** The headers sent to the previous hop; changed in place for the next one. */
  headers: Headers;
}

export interface Redirects {
  /** Whether the body can be sent again (it is not a one-shot stream). */
  replayable: boolean;
  /** The body to send again (307 and 308 keep it); undefined when there is none. */
  body(): BodyInit | undefined | Promise<BodyInit | undefined>;
  /** Set or remove `Authorization` (and a DPoP proof) for a `method` request to `url`. */
  authorize(headers: Headers, url: string, method: string): void | Promise<void>;
  /** Send one hop, with `redirect: 'manual'`. */
  send(url: string, init: { method: string; headers: Headers; body: BodyInit | null | undefined }): Promise<Response>;
}

/**
 * Free the connection of a response we will not read. Not awaited: cancelling can wait on
 * the peer. A `fetch` option that is not WHATWG fetch (node-fetch) gives a Node stream.
 */
export function discard(response: Response): void {
  const body = response.body as (ReadableStream & { destroy?: never }) | { destroy(): void; cancel?: never } | null;
  if (typeof body?.cancel === 'function') body.cancel().catch(() => undefined);
  else if (typeof body?.destroy === 'function') body.destroy();
}

/**
 * Follow `response` (a redirect answer to `hop`) to its end, as fetch does, with the token
 * decided per hop. The answer says where it came from as a followed fetch answer does:
 * `redirected` is true and `url` is the last hop's.
 */
export async function followRedirects(response: Response, hop: Hop, redirects: Redirects): Promise<Response> {
  let { url, method } = hop;
  const { headers } = hop;
  let body: BodyInit | null | undefined;
  for (let count = 1; isRedirect(response); count++) {
    discard(response);
    if (count > MAX_REDIRECTS) throw new TypeError(`[authchart] More than ${MAX_REDIRECTS} redirects from ${hop.url}.`);
    let next: URL;
    try {
      next = new URL(response.headers.get('location')!, response.url || url);
    } catch {
      throw new TypeError(`[authchart] A redirect from ${url} gave a Location that is not a URL.`);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new TypeError(`[authchart] A redirect from ${url} leads out of HTTP(S).`);
    const status = response.status;
    if ((status === 303 && method !== 'GET' && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST')) {
      method = 'GET';
      body = null;
      for (const name of REQUEST_BODY_HEADERS) headers.delete(name);
    } else if (body === undefined) {
      if (!redirects.replayable) throw new TypeError(`[authchart] A ${status} redirect from ${url} asks for the body again, but it was a one-shot stream.`);
      body = (await redirects.body()) ?? null;
    }
    url = next.href;
    const authorized = redirects.authorize(headers, url, method);
    if (authorized) await authorized;
    response = await redirects.send(url, { method, headers, body: body ?? undefined });
  }
  Object.defineProperty(response, 'redirected', { value: true });
  if (!response.url) Object.defineProperty(response, 'url', { value: url });
  return response;
}
