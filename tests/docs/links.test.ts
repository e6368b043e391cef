/**
 * Every relative link and `#anchor` in the project's Markdown resolves: the file (or folder)
 * exists inside the repository, and the anchor is a heading of the target page (as GitHub
 * slugs it) or an explicit id there. External links are not fetched (no network).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { anchors, links, markdownFiles, slug, withoutCode } from './markdown.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const pages = markdownFiles(root);
const anchorCache = new Map<string, Set<string>>();
const anchorsOf = (file: string) => {
  let found = anchorCache.get(file);
  if (!found) {
    found = anchors(readFileSync(file, 'utf8'));
    anchorCache.set(file, found);
  }
  return found;
};

/** What is wrong with one link of `page`, or null. */
function problem(page: string, target: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) return null; // https:, mailto:, …
  const hash = target.indexOf('#');
  const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
  const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
  const file = pathPart === '' ? join(root, page) : resolve(dirname(join(root, page)), pathPart.split('?')[0]!);
  if (pathPart.startsWith('/')) return 'absolute path (GitHub resolves it against the host, not the repository)';
  const inside = relative(root, file);
  if (inside.startsWith('..')) return `points outside the repository (${inside})`;
  if (!existsSync(file)) return `no such file: ${inside}`;
  if (anchor === null || anchor === '') return null;
  if (statSync(file).isDirectory()) return `an anchor on a folder (${inside})`;
  if (!file.endsWith('.md')) return /^L\d+(-L\d+)?$/.test(anchor) ? null : `#${anchor}: only line anchors (#L12) exist in ${inside}`;
  return anchorsOf(file).has(anchor) ? null : `no heading or id "${anchor}" in ${inside}`;
}

describe('the Markdown helpers read pages as GitHub renders them', () => {
  it('slugs headings as GitHub does', () => {
    expect(slug('Testing your app: authchart/testing')).toBe('testing-your-app-authcharttesting');
    expect(slug('R5 — Classification (transient or permanent)')).toBe('r5--classification-transient-or-permanent');
    expect(slug('Servers and multiple instances (Redis)')).toBe('servers-and-multiple-instances-redis');
  });

  it('numbers repeated headings and reads explicit ids; ignores code', () => {
    const page = '# A\n## A\n<a id="r1"></a>\n```\n## B\n[x](nowhere.md)\n```\n`[y](nowhere.md)` [z](here.md#a-1)\n';
    expect([...anchors(page)].sort()).toEqual(['a', 'a-1', 'r1']);
    expect(links(page).map((l) => l.target)).toEqual(['here.md#a-1']);
    expect(withoutCode(page).split('\n')).toHaveLength(page.split('\n').length);
  });

  it('finds a broken file, a broken anchor and a link out of the repository', () => {
    expect(problem('README.md', 'no-such-file.md')).toMatch(/no such file/);
    expect(problem('README.md', '#no-such-heading')).toMatch(/no heading or id/);
    expect(problem('README.md', '../outside.md')).toMatch(/outside the repository/);
    expect(problem('README.md', 'https://example.com/x')).toBeNull();
  });
});

describe('every relative link and anchor resolves', () => {
  it('the pages that must be checked exist', () => {
    for (const page of ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', 'docs/design.md', 'docs/api/README.md']) expect(pages).toContain(page);
  });

  it.each(pages)('%s', (page) => {
    const broken = links(readFileSync(join(root, page), 'utf8'))
      .map((link) => ({ ...link, problem: problem(page, link.target) }))
      .filter((link) => link.problem !== null)
      .map((link) => `${page}:${link.line}  (${link.target})  ${link.problem}`);
    expect(broken, `broken links:\n${broken.join('\n')}`).toEqual([]);
  });
});
