import type { DemoConfig } from '../demo-config';

/** Where the demo's servers listen (random loopback ports), from the example's back end. */
export const config: DemoConfig = await fetch('/demo/config').then((response) => response.json() as Promise<DemoConfig>);

/** Press a button of the demo back end (`/demo/expire`, `/demo/break`, …). */
export async function control(action: 'expire' | 'break' | 'repair' | 'revoke'): Promise<void> {
  const response = await fetch(`/demo/${action}`, { method: 'POST' });
  if (!response.ok) throw new Error(`demo back end: ${action} answered ${response.status}`);
}
