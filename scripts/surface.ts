/**
 * The public surface of the package: for every subpath in package.json `exports`, the names
 * its entry exports and what each one is (a function, a class, a type, …), read with the
 * TypeScript compiler from the source entry that tsup.config.ts builds for it.
 *
 * `npm run surface:update` writes it to api/surface.json; tests/docs/surface.test.ts fails
 * when the source no longer matches that file, so a change to the surface is always a
 * deliberate, reviewed one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import ts from 'typescript';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const surfaceFile = join(root, 'api', 'surface.json');

/** Subpath (`authchart`, `authchart/fetch`, …) → name → kind. */
export type Surface = Record<string, Record<string, string>>;

interface PackageJson {
  name: string;
  exports: Record<string, string | { import?: { default?: string } }>;
}

/**
 * Every subpath of package.json `exports` with the source file tsup builds it from. The
 * built file (`./dist/fetch.js`) names the tsup entry (`fetch`); a subpath whose build has
 * no tsup entry is an error, as is a tsup entry no subpath exports.
 */
export function entryPoints(tsupEntries: Record<string, string>): { subpath: string; source: string }[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson;
  const result: { subpath: string; source: string }[] = [];
  const used = new Set<string>();
  for (const [key, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue; // ./package.json
    const built = target.import?.default;
    const entry = built?.match(/^\.\/dist\/(.+)\.js$/)?.[1];
    const source = entry === undefined ? undefined : tsupEntries[entry];
    if (entry === undefined || source === undefined) {
      throw new Error(`package.json exports "${key}" (${built}) has no entry in tsup.config.ts`);
    }
    used.add(entry);
    result.push({ subpath: key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`, source });
  }
  const unexported = Object.keys(tsupEntries).filter((e) => !used.has(e));
  if (unexported.length) throw new Error(`tsup.config.ts builds ${unexported.join(', ')}, which package.json does not export`);
  return result;
}

/** What a declaration is, in one word. */
function declarationKind(symbol: ts.Symbol): string[] {
  const f = ts.SymbolFlags;
  const kinds: string[] = [];
  if (symbol.flags & f.Class) kinds.push('class');
  else if (symbol.flags & f.Function) kinds.push('function');
  else if (symbol.flags & f.Enum) kinds.push('enum');
  else if (symbol.flags & f.Variable) {
    const declaration = symbol.declarations?.[0];
    const isConst = declaration && ts.isVariableDeclaration(declaration) && (ts.getCombinedNodeFlags(declaration) & ts.NodeFlags.Const) !== 0;
    kinds.push(isConst ? 'const' : 'variable');
  } else if (symbol.flags & (f.ValueModule | f.NamespaceModule)) kinds.push('namespace');
  if (symbol.flags & f.Interface) kinds.push('interface');
  if (symbol.flags & f.TypeAlias) kinds.push('type');
  return kinds;
}

/** True when some link of the re-export chain is `export type` / `import type`. */
function isTypeOnlyChain(symbol: ts.Symbol, checker: ts.TypeChecker): boolean {
  let current = symbol;
  for (let depth = 0; depth < 50 && current.flags & ts.SymbolFlags.Alias; depth++) {
    for (const declaration of current.declarations ?? []) {
      if (ts.isTypeOnlyImportOrExportDeclaration(declaration)) return true;
      if (ts.isExportSpecifier(declaration) && declaration.parent.parent.isTypeOnly) return true;
    }
    const next = checker.getImmediateAliasedSymbol(current);
    if (!next) break;
    current = next;
  }
  return false;
}

/** The surface of every subpath, read from the sources with the TypeScript compiler. */
export function readSurface(tsupEntries: Record<string, string>): Surface {
  const entries = entryPoints(tsupEntries);
  const configPath = join(root, 'tsconfig.json');
  const config = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  // Only the entries as roots: their imports are followed, nothing else is loaded.
  const program = ts.createProgram({
    rootNames: entries.map((e) => join(root, e.source)),
    options: { ...parsed.options, noEmit: true },
  });
  const checker = program.getTypeChecker();
  const surface: Surface = {};
  for (const { subpath, source } of entries) {
    const file = program.getSourceFile(join(root, source));
    const moduleSymbol = file && checker.getSymbolAtLocation(file);
    if (!moduleSymbol) throw new Error(`cannot read ${relative(root, join(root, source))}`);
    const names: Record<string, string> = {};
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const kinds = declarationKind(target);
      const typeOnly = isTypeOnlyChain(exported, checker);
      const valueKinds = kinds.filter((k) => k !== 'interface' && k !== 'type');
      // `export type { SomeClass }` exports the class as a type only.
      const kind = typeOnly && valueKinds.length ? `type (${valueKinds.join('+')})` : kinds.join('+') || 'unknown';
      names[exported.name] = kind;
    }
    surface[subpath] = Object.fromEntries(Object.entries(names).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  return surface;
}

/**
 * What each entry exports at run time, read from esbuild's bundle of its source (packages
 * left external, nothing executed): an independent check of which names are values.
 */
export async function runtimeExports(tsupEntries: Record<string, string>): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const { subpath, source } of entryPoints(tsupEntries)) {
    const built = await build({
      entryPoints: [join(root, source)],
      absWorkingDir: root,
      bundle: true,
      packages: 'external',
      format: 'esm',
      platform: 'neutral',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const output = Object.values(built.metafile.outputs)[0];
    result[subpath] = [...(output?.exports ?? [])].sort();
  }
  return result;
}

/** Whether a kind is something one can use at run time (an import that is not `import type`). */
export const isValueKind = (kind: string) => !kind.startsWith('type') && kind !== 'interface';

export function formatSurface(surface: Surface): string {
  return `${JSON.stringify(surface, null, 2)}\n`;
}

/** Lines a reader can check: `+ authchart/fetch  createAuthFetch (function)`, `-` for a removal, `~` for a change. */
export function diffSurface(committed: Surface, current: Surface): string[] {
  const lines: string[] = [];
  const subpaths = [...new Set([...Object.keys(committed), ...Object.keys(current)])].sort();
  for (const subpath of subpaths) {
    const before = committed[subpath];
    const after = current[subpath];
    if (!before) lines.push(`+ ${subpath} (a new entry, ${Object.keys(after ?? {}).length} names)`);
    if (!after) lines.push(`- ${subpath} (the entry is gone)`);
    for (const name of [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])].sort()) {
      const was = before?.[name];
      const is = after?.[name];
      if (was === is) continue;
      if (was === undefined) lines.push(`+ ${subpath}  ${name} (${is})`);
      else if (is === undefined) lines.push(`- ${subpath}  ${name} (${was})`);
      else lines.push(`~ ${subpath}  ${name}: ${was} → ${is}`);
    }
  }
  return lines;
}

/** Counts per subpath: names, of which values and types. */
export function countSurface(surface: Surface): { subpath: string; names: number; values: number; types: number }[] {
  return Object.entries(surface).map(([subpath, names]) => {
    const kinds = Object.values(names);
    const values = kinds.filter(isValueKind).length;
    return { subpath, names: kinds.length, values, types: kinds.length - values };
  });
}

async function main() {
  const { default: tsup } = (await import('../tsup.config.js')) as { default: { entry: Record<string, string> } };
  const current = readSurface(tsup.entry);
  if (process.argv.includes('--check')) {
    const committed = JSON.parse(readFileSync(surfaceFile, 'utf8')) as Surface;
    const diff = diffSurface(committed, current);
    if (diff.length) {
      console.error(`The public surface differs from api/surface.json:\n${diff.join('\n')}\nIf the change is deliberate: npm run surface:update`);
      process.exit(1);
    }
    console.log('api/surface.json is up to date.');
    return;
  }
  writeFileSync(surfaceFile, formatSurface(current));
  for (const row of countSurface(current))
    console.log(`${row.subpath.padEnd(24)} ${String(row.names).padStart(3)} names (${row.values} values, ${row.types} types)`);
  console.log(`wrote ${relative(root, surfaceFile)}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
