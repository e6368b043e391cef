/**
 * Run `task` with a signal that aborts when `parent` aborts or after `timeoutMs`, and
 * settle no later than that even if `task` ignores its signal. Uses the global
 * `setTimeout` (not `AbortSignal.timeout`) so fake timers control it in tests.
 */
export function withTimeout<T>(parent: AbortSignal, timeoutMs: number, task: (signal: AbortSignal) => Promise<T>, onTimeout: () => Error): Promise<T> {
  if (parent.aborted) return Promise.reject(parent.reason);
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    const finish = () => {
      clearTimeout(timer);
      parent.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      finish();
      controller.abort(parent.reason);
      reject(parent.reason);
    };
    const timer = setTimeout(() => {
      finish();
      const error = onTimeout();
      controller.abort(error);
      reject(error);
    }, timeoutMs);
    parent.addEventListener('abort', onAbort, { once: true });
    task(controller.signal).then(
      (value) => {
        finish();
        resolve(value);
      },
      (error) => {
        finish();
        reject(error);
      },
    );
  });
}
