import { InvalidOptionsError } from './errors.js';

/**
 * A positive, finite numeric option, or its default when absent. Infinity is refused: a
 * timer given it fires at once instead of never.
 */
export function positiveOption(name: string, value: number | undefined, fallback: number, unit = 'number'): number {
  if (value === undefined) return fallback;
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) throw new InvalidOptionsError(`${name} must be a positive ${unit}.`);
  return value;
}
