import { isAuthchartError } from 'authchart';
import { API_URL, auth } from '../lib/auth';

/**
 * A Server Component that calls the API with the request's token. Several render in
 * parallel: after an expiry they share one refresh.
 */
export async function ServerWidget({ name }: { name: string }) {
  let status: 'ok' | 'error' = 'error';
  let detail = '';
  try {
    // auth.fetch: the request's token attached, and one replay after a 401 (a token that
    // expired on the way). auth.getAccessToken() gives the token itself, for other clients.
    const response = await auth.fetch(`${API_URL}/widgets/${name}`, { cache: 'no-store' });
    status = response.ok ? 'ok' : 'error';
    detail = response.ok ? 'rendered on the server' : `API answered ${response.status}`;
  } catch (error) {
    detail = isAuthchartError(error) ? error.code : 'failed';
  }
  return (
    <li className={`widget ${status}`} data-testid="server-widget" data-name={name} data-status={status} data-rendered={Date.now()}>
      <span className="name">{name}</span>
      <span className="status">{status === 'ok' ? '●' : '✕'}</span>
      <span className="detail">{detail}</span>
    </li>
  );
}
