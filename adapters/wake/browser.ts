import type { WakeSource } from '../core/wake.js';

/**
 * The browser's wake signals: window `focus` and `online`, and the document becoming
 * visible. Timers drift while a laptop sleeps or a tab sits in the background; on any of
 * these the session re-checks the clock (R8). Nothing outside a browser.
 * @example
 * createSession({ refresh, wake: browserWake })
 */
export const browserWake: WakeSource = (wake) => {
  const win = globalThis as unknown as Partial<Window>;
  const doc = win.document;
  if (typeof win.addEventListener !== 'function' || typeof win.removeEventListener !== 'function') return () => {};
  const onVisibility = () => {
    if (doc?.visibilityState === 'visible') wake();
  };
  win.addEventListener('focus', wake);
  win.addEventListener('online', wake);
  doc?.addEventListener('visibilitychange', onVisibility);
  return () => {
    win.removeEventListener!('focus', wake);
    win.removeEventListener!('online', wake);
    doc?.removeEventListener('visibilitychange', onVisibility);
  };
};
