/**
 * Where an axios request goes, read cheaply from its config, and where its answer came
 * from, as far as each adapter tells.
 */
import type { AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { originPrefix } from '../core/origins.js';

/** What axios's `isAbsoluteURL` calls absolute: `scheme://…` or `//…`. */
const AXIOS_ABSOLUTE = /^([a-z][a-z\d+\-.]*:)?\/\//i;

/**
 * The part of the URL axios will send to that decides its origin, read from the config
 * without `instance.getUri()` (which merges the instance defaults into the config once
 * more, the costliest step of the whole interceptor). axios builds the URL as an absolute
 * `url` alone, or `baseURL` + `/` + `url`; joined after that `/`, a relative `url` never
 * reaches the authority. Undefined whenever this reading is not certain (no absolute
 * http(s) base, `allowAbsoluteUrls: false`, a `url` axios would refuse as `http:x`): then
 * `getUri()` decides.
 */
export function originPart(config: InternalAxiosRequestConfig, defaults: AxiosInstance['defaults']): string | undefined {
  const url: unknown = config.url;
  if (url !== undefined && typeof url !== 'string') return undefined;
  if (config.allowAbsoluteUrls === false || defaults.allowAbsoluteUrls === false) return undefined;
  if (url !== undefined && AXIOS_ABSOLUTE.test(url)) return originPrefix(url);
  // axios rejects a relative url that looks like "http:…" (after dropping what the URL parser drops).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the URL parser drops leading C0 controls and spaces; this strips the same
  if (url !== undefined && /^https?:/i.test(url.replace(/^[\x00-\x20]+/, '').replace(/[\t\n\r]/g, ''))) return undefined;
  const baseURL: unknown = config.baseURL !== undefined ? config.baseURL : defaults.baseURL;
  return typeof baseURL === 'string' ? originPrefix(baseURL) : undefined;
}

/**
 * Where fetch answers came from after a redirect, by the Request axios's fetch adapter
 * sent (it is the answer's `request`). axios (1.12 and later) calls the `env.fetch` of the
 * config; authchart's wraps the app's and notes the final URL of redirected answers. Shared
 * by all instances: one wrapper per fetch, so axios's per-fetch cache stays small.
 */
const redirectedTo = new WeakMap<object, string>();
const observers = new WeakMap<typeof fetch, typeof fetch>();
const observeGlobalFetch: typeof fetch = (input, init) => observe(globalThis.fetch, input, init);
observers.set(observeGlobalFetch, observeGlobalFetch);
function observe(fetcher: typeof fetch, input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  return fetcher(input, init).then((response) => {
    if (response.redirected && typeof input === 'object') redirectedTo.set(input, response.url);
    return response;
  });
}
export function observingFetch(appFetch: unknown): typeof fetch {
  if (typeof appFetch !== 'function') return observeGlobalFetch;
  const fetcher = appFetch as typeof fetch;
  let observer = observers.get(fetcher);
  if (!observer) {
    observer = (input, init) => observe(fetcher, input, init);
    observers.set(fetcher, observer);
    observers.set(observer, observer);
  }
  return observer;
}

/**
 * The URL an answer came from when the adapter says so (authchart's beforeRedirect notes
 * the http adapter's last hop first): follow-redirects' `responseUrl`, `responseURL` (xhr),
 * the fetch answer's `url` (fetch adapter, axios 1.12 and later). Undefined when it does
 * not (axios's fetch adapter before 1.12): then the answer is taken as the request's own.
 */
export function answeredFrom(response: AxiosResponse): string | undefined {
  const request = response.request as { responseURL?: unknown; res?: { responseUrl?: unknown } } | undefined;
  const url = request?.responseURL ?? request?.res?.responseUrl ?? (typeof request === 'object' && request !== null ? redirectedTo.get(request) : undefined);
  return typeof url === 'string' && url ? url : undefined;
}
