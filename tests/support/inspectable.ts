/**
 * Everything `util.inspect` can print from a value, walked without a depth limit: own
 * properties (enumerable or not, symbol keys too, getters read), Map and Set entries,
 * bytes of buffers and typed arrays (a socket's queued output is a Buffer), and what a
 * custom `[util.inspect.custom]` prints (a fetch `Request` prints its headers that way).
 * Returns where `secret` was found, as property paths, and how many objects were walked.
 */
import { inspect } from 'node:util';

export interface Finding {
  /** Property paths from the root to each string holding the secret. */
  paths: string[];
  /** Objects walked. */
  objects: number;
}

const decoder = new TextDecoder('latin1');

export function findInInspectable(root: unknown, secret: string, limit = 500_000): Finding {
  const paths: string[] = [];
  const seen = new WeakSet<object>();
  const stack: [unknown, string][] = [[root, '$']];
  let objects = 0;
  const check = (text: string, path: string) => {
    if (text.includes(secret)) paths.push(path);
  };
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (typeof value === 'string') {
      check(value, path);
      continue;
    }
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) continue;
    if (seen.has(value)) continue;
    seen.add(value);
    if (++objects > limit) throw new Error(`findInInspectable: more than ${limit} objects from the root`);
    if (ArrayBuffer.isView(value)) {
      check(decoder.decode(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)), `${path}<bytes>`);
      continue;
    }
    if (value instanceof ArrayBuffer) {
      check(decoder.decode(new Uint8Array(value)), `${path}<bytes>`);
      continue;
    }
    const custom = (value as { [inspect.custom]?: unknown })[inspect.custom];
    if (typeof custom === 'function') {
      try {
        check(inspect(value, { depth: 1, showHidden: true, getters: true }), `${path}<inspect.custom>`);
      } catch {
        // An inspector that throws prints nothing.
      }
    }
    if (value instanceof Map) for (const [k, v] of value) stack.push([k, `${path}<map key>`], [v, `${path}<map value>`]);
    if (value instanceof Set) for (const v of value) stack.push([v, `${path}<set>`]);
    for (const key of Reflect.ownKeys(value)) {
      let property: unknown;
      try {
        property = (value as Record<PropertyKey, unknown>)[key];
      } catch {
        continue;
      }
      stack.push([property, `${path}.${String(key)}`]);
    }
  }
  return { paths, objects };
}
