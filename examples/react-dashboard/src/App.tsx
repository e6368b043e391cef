import { AuthProvider } from 'authchart/react';
import { authFetch } from './auth';
import { Dashboard } from './Dashboard';
import { LoginPage } from './LoginPage';
import { currentPath, navigate, useRoute } from './route';

/** How often onLoggedOut sent the user to the sign-in page (read by the browser test). */
const host = window as unknown as { authchartDemo?: { redirects: number } };
host.authchartDemo ??= { redirects: 0 };
const demo = host.authchartDemo;

/**
 * The provider lives in this component module (a hot-reload boundary), so editing
 * `auth.ts` re-executes it in place: `sharedSession` then hands back the running session.
 */
export function App() {
  useRoute();
  return (
    <AuthProvider
      session={authFetch}
      onLoggedOut={({ reason }) => {
        demo.redirects++;
        navigate(`/login?reason=${reason ?? 'unknown'}`);
      }}
      isLoginPage={() => currentPath() === '/login'}
    >
      {currentPath() === '/login' ? <LoginPage /> : <Dashboard />}
    </AuthProvider>
  );
}
