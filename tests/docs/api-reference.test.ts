/**
 * The committed API reference (docs/api/) is what the JSDoc generates: the test generates it
 * again into a temporary directory and compares every page, as the diagrams' test does.
 */
import { describe, expect, it } from 'vitest';
import tsup from '../../tsup.config.js';
import { apiDir, generateApiReferenceInMemory, readTree } from '../../scripts/docs.js';
import { entryPoints } from '../../scripts/surface.js';

const tsupEntries = (tsup as unknown as { entry: Record<string, string> }).entry;

describe('the API reference in docs/api/', () => {
  it('is what the JSDoc generates (run `npm run docs`)', async () => {
    const generated = await generateApiReferenceInMemory(tsupEntries);
    const committed = readTree(apiDir);
    const stale = [...new Set([...Object.keys(generated), ...Object.keys(committed)])]
      .filter((page) => generated[page] !== committed[page])
      .map((page) => `docs/api/${page}: ${committed[page] === undefined ? 'missing' : generated[page] === undefined ? 'no longer generated' : 'differs'}`);
    expect(stale, `stale pages (run \`npm run docs\`):\n${stale.join('\n')}`).toEqual([]);

    // One page per package entry, each with the entry's own summary.
    for (const { subpath } of entryPoints(tsupEntries)) {
      const page = subpath === 'authchart' ? 'authchart.md' : `${subpath}.md`;
      expect(generated[page], page).toMatch(new RegExp(`^# ${subpath}\\n\\n\`?${subpath.replace('/', '\\/')}`));
    }
  }, 120_000);
});
