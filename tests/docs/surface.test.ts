/**
 * The public surface is deliberate: what every package entry exports (names, and whether each
 * is a value or a type) is committed in api/surface.json, and a change to it shows up here as
 * a readable diff until `npm run surface:update` records it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import tsup from '../../tsup.config.js';
import { type Surface, diffSurface, entryPoints, isValueKind, readSurface, runtimeExports, surfaceFile } from '../../scripts/surface.js';

const tsupEntries = (tsup as unknown as { entry: Record<string, string> }).entry;
const committed = JSON.parse(readFileSync(surfaceFile, 'utf8')) as Surface;
let current: Surface | undefined;
const surface = () => (current ??= readSurface(tsupEntries));

describe('the public surface', () => {
  it('every package.json export is built from a tsup entry, and every tsup entry is exported', () => {
    const entries = entryPoints(tsupEntries);
    expect(entries.map((e) => e.subpath)).toContain('authchart');
    expect(new Set(entries.map((e) => e.source)).size).toBe(Object.keys(tsupEntries).length);
  });

  it('is the one recorded in api/surface.json (run `npm run surface:update` when a change is deliberate)', () => {
    const diff = diffSurface(committed, surface());
    expect(diff, `the public surface changed:\n${diff.join('\n')}\nIf that is deliberate: npm run surface:update`).toEqual([]);
  }, 60_000);

  it('names as values exactly what each entry exports at run time (esbuild bundles each entry)', async () => {
    const runtime = await runtimeExports(tsupEntries);
    for (const { subpath } of entryPoints(tsupEntries)) {
      const values = Object.entries(surface()[subpath] ?? {})
        .filter(([, kind]) => isValueKind(kind))
        .map(([name]) => name)
        .sort();
      expect(runtime[subpath], subpath).toEqual(values);
    }
  }, 60_000);
});

describe('the surface diff', () => {
  it('says what was added, removed and changed, per entry', () => {
    const before: Surface = { authchart: { a: 'function', b: 'interface', c: 'class' }, 'authchart/old': { x: 'const' } };
    const after: Surface = { authchart: { a: 'function', c: 'type (class)', d: 'const' }, 'authchart/new': { y: 'type' } };
    expect(diffSurface(before, after)).toEqual([
      '- authchart  b (interface)',
      '~ authchart  c: class → type (class)',
      '+ authchart  d (const)',
      '+ authchart/new (a new entry, 1 names)',
      '+ authchart/new  y (type)',
      '- authchart/old (the entry is gone)',
      '- authchart/old  x (const)',
    ]);
    expect(diffSurface(before, before)).toEqual([]);
  });
});
