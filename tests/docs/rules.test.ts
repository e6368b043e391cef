/**
 * Code comments and tests cite the rules of docs/design.md as R<n>: every cited rule exists
 * there, with its explicit anchor, and no citation uses another form ("rule 5", "DESIGN rule 5").
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { anchors } from './markdown.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const design = readFileSync(join(root, 'docs/design.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sources(path);
    return /\.(ts|tsx|mjs)$/.test(entry.name) ? [path] : [];
  });
}

// tests/docs/ holds this check and its fixtures (a rule that does not exist, on purpose).
const files = ['machines', 'adapters', 'tests', 'scripts'].flatMap(sources).filter((f) => !f.startsWith(join('tests', 'docs')));

describe('rule citations', () => {
  it('docs/design.md has R1 to R15, each a heading with an explicit anchor', () => {
    const found = anchors(design);
    for (let n = 1; n <= 15; n++) {
      expect(found, `#r${n}`).toContain(`r${n}`);
      expect(design).toMatch(new RegExp(`^### R${n} — `, 'm'));
    }
  });

  it('every R<n> cited in code and tests is a rule of docs/design.md', () => {
    const found = anchors(design);
    const unknown = files.flatMap((file) =>
      [...readFileSync(join(root, file), 'utf8').matchAll(/(?<![\w/#])R(\d+)(?![\w])/g)].filter((m) => !found.has(`r${m[1]}`)).map((m) => `${file}: R${m[1]}`),
    );
    expect(unknown).toEqual([]);
  });

  it('no citation in another form ("rule 5", "DESIGN rule 5"): cite R5', () => {
    const other = files.flatMap((file) =>
      readFileSync(join(root, file), 'utf8')
        .split('\n')
        .flatMap((line, i) => (/\b(DESIGN )?[Rr]ules? \d+/.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(other, `cite rules as R<n> (docs/design.md):\n${other.join('\n')}`).toEqual([]);
  });
});
