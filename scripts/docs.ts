/**
 * `npm run docs`: the API reference in docs/api/, generated from the JSDoc of every package
 * entry with TypeDoc and typedoc-plugin-markdown, one page per subpath (`authchart`,
 * `authchart/fetch`, …). tests/docs/api-reference.test.ts generates it again into a temporary
 * directory and fails when the committed pages differ.
 *
 * Deterministic on purpose: no source links (they would carry line numbers and a commit),
 * entries in package.json order, members sorted by kind then name.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application, Comment, Converter, type DeclarationReflection, ReflectionKind } from 'typedoc';
import { MarkdownPageEvent } from 'typedoc-plugin-markdown';
import { entryPoints, root } from './surface.js';

export const apiDir = join(root, 'docs', 'api');

/** Every file under `dir`, relative to it, with its text. */
export function readTree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else files[relative(dir, path).split('\\').join('/')] = readFileSync(path, 'utf8');
    }
  };
  walk(dir);
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The text of a file's opening JSDoc comment, without its stars. */
function leadingComment(source: string): string | undefined {
  const match = /^\s*\/\*\*([\s\S]*?)\*\//.exec(source);
  if (!match) return undefined;
  return match[1]!
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, '').trimEnd())
    .join('\n')
    .trim();
}

/**
 * Link every rule cited as `R<n>` in prose (not in code) to its anchor in docs/design.md,
 * relative to the page at `url` (a path under docs/api/).
 */
export function linkRules(markdown: string, url: string): string {
  const design = `${'../'.repeat(url.split('/').length)}design.md`;
  let fence: string | null = null;
  return markdown
    .split('\n')
    .map((line) => {
      const opening = /^\s*(`{3,}|~{3,})/.exec(line);
      if (opening) {
        if (fence === null) fence = opening[1]!;
        else if (line.trim() === fence) fence = null;
        return line;
      }
      if (fence !== null) return line;
      // Odd parts are inline code spans.
      return line
        .split(/(`+[^`]*`+)/)
        .map((part, i) => (i % 2 ? part : part.replace(/(?<![\w/#[])R(1[0-5]|[1-9])(?![\w\]])/g, (rule, n: string) => `[${rule}](${design}#r${n})`)))
        .join('');
    })
    .join('\n');
}

/** Generate the reference into `outDir` (created, or emptied first) and return its files. */
export async function generateApiReference(tsupEntries: Record<string, string>, outDir: string): Promise<Record<string, string>> {
  const entries = entryPoints(tsupEntries);
  // TypeDoc names a module after its file, relative to the entries' common folder
  // (`adapters/fetch/index.ts` → `fetch`, `adapters/index.ts` → `index`).
  const byModuleName = new Map(entries.map((e) => [e.source.replace(/^adapters\//, '').replace(/(\/index)?\.ts$/, ''), e]));
  const app = await Application.bootstrapWithPlugins({
    entryPoints: entries.map((e) => join(root, e.source)),
    entryPointStrategy: 'resolve',
    tsconfig: join(root, 'scripts', 'docs.tsconfig.json'),
    plugin: ['typedoc-plugin-markdown'],
    out: outDir,
    name: 'authchart',
    readme: 'none',
    disableSources: true,
    // Types are checked by `tsc -p .`; checking them again here only costs time.
    skipErrorChecking: true,
    excludePrivate: true,
    // Members inherited from the platform (Error.captureStackTrace, …) are not authchart's.
    excludeExternals: true,
    excludeInternal: true,
    sort: ['kind', 'alphabetical'],
    logLevel: 'Error',
    // typedoc-plugin-markdown: one page per subpath, tables for members.
    outputFileStrategy: 'modules',
    entryFileName: 'README',
    hidePageHeader: true,
    hideBreadcrumbs: true,
    parametersFormat: 'table',
    interfacePropertiesFormat: 'list',
    classPropertiesFormat: 'list',
    typeDeclarationFormat: 'table',
    enumMembersFormat: 'table',
    useCodeBlocks: true,
    useHTMLAnchors: true,
  } as Parameters<typeof Application.bootstrapWithPlugins>[0]);
  // Name each module after the subpath users import it by, not after its file.
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (_context, reflection: DeclarationReflection) => {
    if (reflection.kind !== ReflectionKind.Module) return;
    const entry = byModuleName.get(reflection.name);
    if (!entry) throw new Error(`TypeDoc module "${reflection.name}" is no package entry`);
    reflection.name = entry.subpath;
    // The entry file's opening comment says what the subpath is for: it is the module's summary.
    const summary = leadingComment(readFileSync(join(root, entry.source), 'utf8'));
    if (summary && !reflection.comment) reflection.comment = new Comment([{ kind: 'text', text: summary }]);
  });
  app.renderer.on(MarkdownPageEvent.END, (page) => {
    if (page.contents !== undefined) page.contents = linkRules(page.contents, page.url);
  });
  const project = await app.convert();
  if (!project) throw new Error('TypeDoc could not convert the entries (see the messages above)');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  await app.generateOutputs(project);
  if (app.logger.hasErrors()) throw new Error('TypeDoc reported errors (see the messages above)');
  return readTree(outDir);
}

/** Generate into a fresh temporary directory (removed after), for the staleness test. */
export async function generateApiReferenceInMemory(tsupEntries: Record<string, string>): Promise<Record<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), 'authchart-api-'));
  try {
    return await generateApiReference(tsupEntries, join(dir, 'api'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const { default: tsup } = (await import('../tsup.config.js')) as { default: { entry: Record<string, string> } };
  const started = Date.now();
  const files = await generateApiReference(tsup.entry, apiDir);
  console.log(`wrote ${Object.keys(files).length} pages to ${relative(root, apiDir)}/ in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
