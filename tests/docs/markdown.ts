/**
 * Just enough Markdown to check links the way GitHub renders them: the links and anchors of
 * a page (outside code), and heading slugs as GitHub makes them.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface Link {
  target: string;
  line: number;
}

/** The page without fenced code blocks and inline code spans (blanked, so line numbers stay). */
export function withoutCode(markdown: string): string {
  const lines = markdown.split('\n');
  let fence: string | null = null;
  const kept = lines.map((line) => {
    const opening = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fence === null && opening) {
      fence = opening[1]!;
      return '';
    }
    if (fence !== null) {
      const closing = line.trim();
      if (closing.length >= fence.length && [...closing].every((c) => c === fence![0])) fence = null;
      return '';
    }
    return line;
  });
  // Inline code: a run of n backticks up to the next run of exactly n.
  return kept.join('\n').replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (span) => span.replace(/[^\n]/g, ' '));
}

/** GitHub's heading slug (github-slugger): lower case, punctuation dropped, spaces to dashes. */
export function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The text a heading renders as: no link targets, emphasis, code marks or HTML tags. */
function headingText(raw: string): string {
  return raw
    .replace(/\s+#+\s*$/, '')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim();
}

/**
 * Every anchor of a page: heading slugs (repeated headings get `-1`, `-2`, as on GitHub) and
 * explicit ids (`<a id="r5"></a>`, `name="…"`).
 */
export function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  const counts = new Map<string, number>();
  const prose = withoutCode(markdown);
  // Headings are read from the page with code spans kept (`### \`foo\`` slugs as `foo`).
  const original = markdown.split('\n');
  prose.split('\n').forEach((line, index) => {
    if (!/^\s{0,3}#{1,6}\s/.test(line)) return;
    const raw = original[index]!.replace(/^\s{0,3}#{1,6}\s+/, '');
    const base = slug(headingText(raw));
    const seen = counts.get(base) ?? 0;
    counts.set(base, seen + 1);
    found.add(seen === 0 ? base : `${base}-${seen}`);
  });
  for (const match of prose.matchAll(/<[a-z][a-z0-9]*\b[^>]*?\b(?:id|name)\s*=\s*["']([^"']+)["']/gi)) found.add(match[1]!);
  return found;
}

/** Every link and image target of a page outside code: inline, reference definitions, HTML `href`/`src`. */
export function links(markdown: string): Link[] {
  const prose = withoutCode(markdown);
  const lineOf = (offset: number) => prose.slice(0, offset).split('\n').length;
  const result: Link[] = [];
  // [text](target "title") and ![alt](target); the target may be <wrapped>.
  for (const m of prose.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g)) {
    result.push({ target: m[1]!.replace(/^<|>$/g, ''), line: lineOf(m.index!) });
  }
  for (const m of prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*(\S+)/gm)) result.push({ target: m[1]!, line: lineOf(m.index!) });
  for (const m of prose.matchAll(/<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']+)["']/gi)) result.push({ target: m[1]!, line: lineOf(m.index!) });
  return result;
}

/** Markdown files under `dir` (relative paths), skipping dependencies, builds and dot folders. */
export function markdownFiles(root: string, dir = root): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules' || entry.name === 'dist') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...markdownFiles(root, path));
    else if (entry.name.endsWith('.md')) found.push(relative(root, path).split('\\').join('/'));
  }
  return found.sort();
}
