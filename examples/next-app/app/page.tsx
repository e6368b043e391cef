import { ClientWidgets } from './client-widgets';
import { Dashboard } from './dashboard';
import { WIDGETS } from '../lib/auth';

export const dynamic = 'force-dynamic';

export default function Page() {
  return (
    <Dashboard title="authchart × Next.js">
      <ClientWidgets names={WIDGETS} />
    </Dashboard>
  );
}
