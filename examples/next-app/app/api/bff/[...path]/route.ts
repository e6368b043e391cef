import { API_URL, auth } from '../../../../lib/auth';

export const dynamic = 'force-dynamic';

// Backend-for-frontend: the browser calls /api/bff/<path>; the server forwards it to the
// API with the bearer token, after the cross-site check.
const handler = auth.bff({ upstream: API_URL, mount: '/api/bff' });

export { handler as GET, handler as POST, handler as PUT, handler as PATCH, handler as DELETE };
