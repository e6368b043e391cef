import { Suspense } from 'react';
import { signIn, signOut } from './actions';
import { ServerWidget } from './server-widget';
import { SHARED, STORAGE, WIDGETS, auth } from '../lib/auth';

function Loading({ name }: { name: string }) {
  return (
    <li className="widget loading" data-testid="server-widget" data-name={name} data-status="loading">
      <span className="name">{name}</span>
      <span className="status">…</span>
      <span className="detail">loading</span>
    </li>
  );
}

/** The dashboard, or the sign-in form. `children` is what the page adds below the server widgets. */
export async function Dashboard({ title, children }: { title: string; children?: React.ReactNode }) {
  const signedIn = await auth.isSignedIn();
  const mode = `${STORAGE === 'cookie' ? 'tokens in a sealed cookie' : 'session id cookie + server store'} · ${SHARED ? 'Redis (many instances)' : 'memory (one instance)'}`;
  return (
    <main>
      <header className="top">
        <div>
          <h1>{title}</h1>
          <p className="mode" data-testid="mode">
            {mode}
          </p>
          {signedIn ? <p className="hint">After the access token expires, all twelve calls below run at once and share one refresh.</p> : null}
        </div>
        {signedIn ? (
          <form action={signOut}>
            <button type="submit">Sign out</button>
          </form>
        ) : null}
      </header>
      {signedIn ? (
        <>
          <section className="panel">
            <header>
              <h2>Server Components</h2>
            </header>
            <ul className="grid" data-testid="server-widgets">
              {WIDGETS.map((name) => (
                <Suspense key={name} fallback={<Loading name={name} />}>
                  <ServerWidget name={name} />
                </Suspense>
              ))}
            </ul>
          </section>
          {children}
        </>
      ) : (
        <form action={signIn} className="panel signin">
          <h2>Sign in</h2>
          <input name="username" defaultValue="ada" aria-label="user name" />
          <button type="submit">Sign in as the demo user</button>
        </form>
      )}
    </main>
  );
}
