/**
 * msw handlers that follow each provider's documented wire format for refreshing, with
 * rotation and their error bodies. Each keeps one rotating token family.
 */
import { http, HttpResponse } from 'msw';

let counter = 0;
const token = (prefix: string) => `${prefix}_${++counter}_${Math.random().toString(16).slice(2, 10)}`;
const base64url = (value: object) => btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
/** A JWT-shaped access token with an `exp` claim (unsigned: nobody verifies it here). */
export const jwtWithExp = (expSeconds: number) => `${base64url({ alg: 'HS256', typ: 'JWT' })}.${base64url({ exp: expSeconds, jti: token('j') })}.sig`;

interface Family {
  current: string;
  used: Set<string>;
  calls: number;
  failNext: Response[];
}
const family = (): Family => ({ current: token('rt'), used: new Set(), calls: 0, failNext: [] });

/** Django REST framework SimpleJWT with ROTATE_REFRESH_TOKENS and BLACKLIST_AFTER_ROTATION. */
export function simpleJwt(origin = 'https://django.test') {
  const state = family();
  const handler = http.post(`${origin}/api/token/refresh/`, async ({ request }) => {
    state.calls++;
    const fault = state.failNext.shift();
    if (fault) return fault;
    const body = (await request.json().catch(() => ({}))) as { refresh?: string };
    if (!body.refresh) return HttpResponse.json({ refresh: ['This field is required.'] }, { status: 400 });
    if (state.used.has(body.refresh)) return HttpResponse.json({ detail: 'Token is blacklisted', code: 'token_not_valid' }, { status: 401 });
    if (body.refresh !== state.current) return HttpResponse.json({ detail: 'Token is invalid or expired', code: 'token_not_valid' }, { status: 401 });
    state.used.add(state.current);
    state.current = token('rt');
    return HttpResponse.json({ access: jwtWithExp(Math.floor(Date.now() / 1000) + 300), refresh: state.current });
  });
  return { handler, state, url: `${origin}/api/token/refresh/` };
}

/** A FastAPI-style `POST /auth/refresh` with `{ refresh_token }`. */
export function fastApi(origin = 'https://fastapi.test') {
  const state = family();
  const handler = http.post(`${origin}/auth/refresh`, async ({ request }) => {
    state.calls++;
    const fault = state.failNext.shift();
    if (fault) return fault;
    const body = (await request.json().catch(() => ({}))) as { refresh_token?: string };
    if (body.refresh_token !== state.current) return HttpResponse.json({ detail: 'Invalid refresh token' }, { status: 401 });
    state.current = token('rt');
    return HttpResponse.json({ access_token: token('at'), refresh_token: state.current, token_type: 'bearer', expires_in: 900 });
  });
  return { handler, state, url: `${origin}/auth/refresh` };
}

/** Spotify's accounts service token endpoint (form body; Basic auth or PKCE client_id). */
export function spotify(options: { clientId: string; clientSecret?: string; rotate: boolean }) {
  const state = family();
  const seen: { authorization: string | null; form: URLSearchParams }[] = [];
  const handler = http.post('https://accounts.spotify.com/api/token', async ({ request }) => {
    state.calls++;
    const form = new URLSearchParams(await request.text());
    seen.push({ authorization: request.headers.get('authorization'), form });
    const fault = state.failNext.shift();
    if (fault) return fault;
    const basic = request.headers.get('authorization');
    // RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined and base64-encoded.
    const decode = (part = '') => decodeURIComponent(part.replace(/\+/g, ' '));
    const [id, secret] = basic?.startsWith('Basic ') ? atob(basic.slice(6)).split(':').map(decode) : [];
    const clientOk = options.clientSecret ? id === options.clientId && secret === options.clientSecret : form.get('client_id') === options.clientId;
    if (!clientOk) return HttpResponse.json({ error: 'invalid_client', error_description: 'Invalid client' }, { status: 400 });
    if (form.get('grant_type') !== 'refresh_token') return HttpResponse.json({ error: 'unsupported_grant_type' }, { status: 400 });
    if (form.get('refresh_token') !== state.current)
      return HttpResponse.json({ error: 'invalid_grant', error_description: 'Refresh token revoked' }, { status: 400 });
    const answer: Record<string, unknown> = { access_token: token('BQ'), token_type: 'Bearer', scope: 'user-read-private', expires_in: 3600 };
    if (options.rotate) {
      state.current = token('AQ');
      answer.refresh_token = state.current;
    }
    return HttpResponse.json(answer);
  });
  return { handler, state, seen };
}

/** Supabase Auth (GoTrue) `POST /auth/v1/token?grant_type=refresh_token`. */
export function supabase(options: { url: string; apiKey: string; serverClockOffsetMs?: number }) {
  const state = family();
  const handler = http.post(`${options.url}/auth/v1/token`, async ({ request }) => {
    state.calls++;
    if (request.headers.get('apikey') !== options.apiKey) {
      return HttpResponse.json({ message: 'No API key found in request', hint: 'No `apikey` request header or url param was found.' }, { status: 401 });
    }
    const fault = state.failNext.shift();
    if (fault) return fault;
    if (new URL(request.url).searchParams.get('grant_type') !== 'refresh_token') {
      return HttpResponse.json({ code: 400, error_code: 'validation_failed', msg: 'Unsupported grant type' }, { status: 400 });
    }
    const body = (await request.json().catch(() => ({}))) as { refresh_token?: string };
    if (body.refresh_token && state.used.has(body.refresh_token)) {
      return HttpResponse.json({ code: 400, error_code: 'refresh_token_already_used', msg: 'Invalid Refresh Token: Already Used' }, { status: 400 });
    }
    if (body.refresh_token !== state.current) {
      return HttpResponse.json({ code: 400, error_code: 'refresh_token_not_found', msg: 'Invalid Refresh Token: Refresh Token Not Found' }, { status: 400 });
    }
    state.used.add(state.current);
    state.current = token('sb');
    const now = Math.floor((Date.now() + (options.serverClockOffsetMs ?? 0)) / 1000);
    return HttpResponse.json({
      access_token: jwtWithExp(now + 3600),
      token_type: 'bearer',
      expires_in: 3600,
      expires_at: now + 3600,
      refresh_token: state.current,
      user: { id: 'b1f7c2de-0000-4000-8000-000000000001', aud: 'authenticated', role: 'authenticated' },
    });
  });
  return { handler, state };
}
