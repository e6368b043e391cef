/** node-fetch 2, used as a real `fetch` that keeps `Authorization` on a redirect to a subdomain. */
declare module 'node-fetch' {
  export default function fetch(url: string, init?: object): Promise<unknown>;
}
