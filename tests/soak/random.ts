/**
 * A seeded random source (a 32-bit xorshift-multiply generator): the same seed gives the
 * same soak, fault for fault, so a failing run can be played again.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** One of the keys, with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K;
  /** A delay with mean `meanMs` (exponential), for events that arrive at random. */
  exponential(meanMs: number): number;
  /** An independent source for a sub-stream (so adding draws to one stream does not shift another). */
  fork(label: string): Random;
}

/** Mix two 32-bit values into one (a murmur-style finaliser). */
export function mix(a: number, b: number): number {
  let h = (a ^ Math.imul(b ^ 0x9e3779b9, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hashLabel(label: string): number {
  let h = 2166136261;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function createRandom(seed: number): Random {
  let state = mix(seed >>> 0, 0x2545f491) || 1;
  const next = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return mix(state, 0x68e31da4) / 4294967296;
  };
  const random: Random = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    weighted(weights) {
      const entries = Object.entries(weights) as [keyof typeof weights, number][];
      let roll = next() * entries.reduce((sum, [, w]) => sum + w, 0);
      for (const [key, weight] of entries) {
        roll -= weight;
        if (roll < 0) return key;
      }
      return entries[entries.length - 1]![0];
    },
    exponential: (meanMs) => Math.max(1, Math.round(-Math.log(1 - next()) * meanMs)),
    fork: (label) => createRandom(mix(seed >>> 0, hashLabel(label))),
  };
  return random;
}

/** The seed of a run: `AUTHCHART_SOAK_SEED` (decimal or 0x-hex), else `fallback`. */
export function seedFrom(value: string | undefined, fallback: () => number): number {
  if (value === undefined || value.trim() === '') return fallback() >>> 0;
  const parsed = Number(value.trim());
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 0xffffffff)
    throw new Error(`AUTHCHART_SOAK_SEED must be an integer from 0 to 4294967295 (got "${value}").`);
  return parsed >>> 0;
}
