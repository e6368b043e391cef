import { useSyncExternalStore } from 'react';

/** The hash route without its query: `/` or `/login`. */
export function currentPath(): string {
  return (location.hash.replace(/^#/, '') || '/').split('?')[0] ?? '/';
}

export function currentQuery(): URLSearchParams {
  return new URLSearchParams(location.hash.split('?')[1] ?? '');
}

export function navigate(to: string): void {
  location.hash = `#${to}`;
}

const subscribe = (onChange: () => void) => {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
};

/** Re-render on hash changes; returns the full hash route (path and query). */
export function useRoute(): string {
  return useSyncExternalStore(subscribe, () => location.hash);
}
