/** What the dashboard's page is told at start (`GET /demo/config`). No secret. */
export interface DemoConfig {
  /** The demo token server's endpoint (password and refresh_token grants). */
  tokenEndpoint: string;
  /** Base URL of the protected API, e.g. http://127.0.0.1:40124/api */
  api: string;
  /** The API's origin: the only one authchart sends the token to. */
  apiOrigin: string;
  clientId: string;
  /** How often each widget polls, in milliseconds. */
  pollMs: number;
}
