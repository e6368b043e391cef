import type { NextRequest } from 'next/server';
import { auth } from './lib/auth';

// With tokens in a cookie, the proxy rotates them before the page renders and hands the new
// cookie to the render and to the browser; with server sessions it lets requests through.
export function proxy(request: NextRequest) {
  return auth.proxy(request);
}

export const config = {
  // Everything but static files, and /direct (which shows what happens without the proxy).
  matcher: ['/((?!_next/static|_next/image|favicon.ico|direct).*)'],
};
