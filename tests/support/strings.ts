/**
 * Every string reachable from a value: own properties (enumerable or not), Map and Set
 * entries, array items, error messages and causes, `toJSON()` results; actors through
 * their id and snapshot. Cycles are followed once. Used to prove that no token value is
 * reachable from what an inspector receives.
 */
export function reachableStrings(root: unknown, limit = 2_000_000): Set<string> {
  const strings = new Set<string>();
  const seen = new WeakSet<object>();
  // As JSON.stringify does, call toJSON once: its result is not asked again (xstate's
  // transition definitions return an object that has toJSON itself).
  const fromToJSON = new WeakSet<object>();
  const stack: unknown[] = [root];
  let visited = 0;
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') {
      strings.add(value);
      continue;
    }
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) continue;
    if (seen.has(value)) continue;
    seen.add(value);
    if (++visited > limit) throw new Error(`reachableStrings: more than ${limit} objects`);
    if (typeof value === 'function') continue; // source code holds no runtime value
    if (isActorRef(value)) {
      // An inspector sees an actor through its id and its snapshots, never its internals
      // (which reach the whole runtime: clocks, abort signals, the host).
      stack.push(value.id, value.sessionId, value.getSnapshot());
      continue;
    }
    if (value instanceof Map) for (const [k, v] of value) stack.push(k, v);
    if (value instanceof Set) for (const v of value) stack.push(v);
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function' && !fromToJSON.has(value)) {
      try {
        const json: unknown = toJSON.call(value);
        if (typeof json === 'object' && json !== null) fromToJSON.add(json);
        stack.push(json);
      } catch {
        // A toJSON that throws sends nothing.
      }
    }
    for (const key of Reflect.ownKeys(value)) {
      if (typeof key === 'string') strings.add(key);
      let property: unknown;
      try {
        property = (value as Record<PropertyKey, unknown>)[key];
      } catch {
        continue;
      }
      stack.push(property);
    }
  }
  return strings;
}

function isActorRef(value: object): value is { id: string; sessionId: string; getSnapshot(): unknown } {
  const candidate = value as { send?: unknown; getSnapshot?: unknown; sessionId?: unknown };
  return typeof candidate.send === 'function' && typeof candidate.getSnapshot === 'function' && typeof candidate.sessionId === 'string';
}

/** The secrets that occur in any of `strings` (as the whole string or inside it). */
export function leakedSecrets(strings: Iterable<string>, secrets: readonly string[]): string[] {
  const all = [...strings];
  return secrets.filter((secret) => all.some((s) => s.includes(secret)));
}
