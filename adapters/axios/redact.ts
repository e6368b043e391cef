import type { AxiosError } from 'axios';

/**
 * What an axios error keeps of a request authchart sent, in place of the live request
 * object. On Node that object is a `ClientRequest` (or follow-redirects' wrapper around
 * one): its header cache, its socket, the agent and every other request on that agent hold
 * `Authorization` headers, and `util.inspect` walks all of it. A fetch `Request` prints its
 * headers too. This copy holds what a log needs and nothing live.
 */
export class SentRequest {
  constructor(
    /** The method, e.g. `GET`. */
    readonly method: string,
    /** Where the request went: the last redirect hop when it was redirected. */
    readonly url: string,
  ) {}
}

/** Keep an XMLHttpRequest (no script can read the headers it sent); replace anything else. */
function detach(request: unknown, sent: SentRequest): unknown {
  if (request === undefined || request === null) return request;
  if (typeof XMLHttpRequest !== 'undefined' && request instanceof XMLHttpRequest) return request;
  return sent;
}

/** How many wrapped axios errors to look through (axios wraps one, at most two). */
const MAX_CAUSES = 4;

/**
 * Replace the request objects an axios error reaches (`error.request`, and
 * `error.response.request`, the same object) with a {@link SentRequest}; the same in the
 * axios errors it wraps (`cause`: axios 1.7's fetch adapter wraps the HTTP error in a
 * second one). The config is cleaned by the interceptors, which know which header is theirs.
 */
export function redactError(error: AxiosError, sent: { method: string; url: string }): AxiosError {
  const copy = new SentRequest(sent.method, sent.url);
  let current: unknown = error;
  for (let depth = 0; depth < MAX_CAUSES && (current as Partial<AxiosError> | null)?.isAxiosError === true; depth++) {
    const wrapped = current as AxiosError;
    if (wrapped.request !== undefined) wrapped.request = detach(wrapped.request, copy);
    if (wrapped.response?.request !== undefined) wrapped.response.request = detach(wrapped.response.request, copy);
    current = wrapped.cause;
  }
  return error;
}
