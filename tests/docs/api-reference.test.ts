/**
 * The committed API reference (docs/api/) is what the JSDoc generates: the test generates it
 * again into a temporary directory and compares every page, as the diagrams' test does.
 */
import { describe, expect, it } from 'vitest';
import tsup from '../../tsup.config.js';
import { apiDir, generateApiReferenceInMemory, linkRules, readTree } from '../../scripts/docs.js';
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

describe('rules cited in the JSDoc link to the design document', () => {
  it('R<n> in prose becomes a link relative to the page; code and other words are left alone', () => {
    const page = 'Stale (R3), see R12: lifetimes.\n`R3` in code, RFC R2D2, R16.\n```ts\nconst R5 = 1;\n```\n';
    expect(linkRules(page, 'authchart/fetch.md')).toBe(
      'Stale ([R3](../../design.md#r3)), see [R12](../../design.md#r12): lifetimes.\n`R3` in code, RFC R2D2, R16.\n```ts\nconst R5 = 1;\n```\n',
    );
    expect(linkRules('(R1)', 'authchart.md')).toBe('([R1](../design.md#r1))');
  });
});
