import { API_URL, auth } from '../../../../lib/auth';

export const dynamic = 'force-dynamic';

// A route handler: auth.fetch attaches the request's token (refreshed first if it expired,
// once however many requests need it); auth.route answers authchart's errors as typed JSON.
export const GET = auth.route(async (_request: Request, { params }: { params: Promise<{ name: string }> }) => {
  const { name } = await params;
  const upstream = await auth.fetch(`${API_URL}/widgets/${encodeURIComponent(name)}`, { cache: 'no-store' });
  return Response.json({ via: 'route handler', ...(await upstream.json()) }, { status: upstream.status });
});
