/**
 * Broken copies of the protocol, each of which the explorer must catch.
 *
 * Source mutants copy `adapters/` and `machines/` into `.scratch/mutants/<name>/` (git-ignored),
 * apply a textual patch, and load the copy's public API. A patch whose text is no longer in
 * the source fails loudly: the source changed, and the mutant must be rewritten against it
 * (it would otherwise test nothing). Port mutants are properties of the world (a store whose
 * compare-and-set ignores the version, a lock with no hold bound).
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type fc from 'fast-check';
import * as families from './families.js';
import { loadLibrary, project, type Library } from './library.js';
import type { WorldSpec } from './scenario.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SourcePatch {
  /** Path from the project root. */
  file: string;
  /** Text that must occur exactly once in that file. */
  find: string;
  replace: string;
}

export interface Mutant {
  name: string;
  /** What the broken copy does wrong. */
  breaks: string;
  /** The family of scenarios in which the explorer must catch it. */
  family: fc.Arbitrary<WorldSpec>;
  familyName: string;
  patches?: SourcePatch[];
  /** Port mutants: how the world's ports are broken. */
  ports?: Partial<Pick<WorldSpec, 'storeCas' | 'holdBound'>>;
}

export const MUTANTS: Mutant[] = [
  {
    name: 'no-double-check',
    breaks: 'the double-check after the lock is gone: a tab that waited for the lock refreshes again instead of adopting the stored tokens',
    family: families.herd,
    familyName: 'herd',
    patches: [
      {
        file: 'adapters/core/refresh-task.ts',
        find: "if (differs(stored, startedWith)) return adopt(stored, 'store');",
        replace: '// (mutant) no double-check after the lock',
      },
    ],
  },
  {
    name: 'cas-ignores-version',
    breaks: "the store's compare-and-set ignores the expected version: a refresh that finishes after a sign-out or sign-in overwrites it",
    family: families.signOutDuringRefresh,
    familyName: 'signOutDuringRefresh',
    ports: { storeCas: 'ignored' },
  },
  {
    name: 'no-hold-bound',
    breaks: 'the lock has no hold bound and no takeover of a silent holder: a tab that dies holding its lease keeps it forever',
    family: families.deadHolder,
    familyName: 'deadHolder',
    ports: { holdBound: 'none' },
  },
  {
    name: 'own-tokens-win',
    breaks:
      "\"newest tokens win\" is reversed: when the store changed during a refresh (a sign-in), the refresh keeps its own tokens instead of the store's newer ones, and takes the sign-in's change notification heard during its write for that write's echo",
    family: families.signInDuringRefresh,
    familyName: 'signInDuringRefresh',
    patches: [
      {
        file: 'adapters/core/refresh-task.ts',
        find: "if (!pushedOnly) return { ...holder.hold(current), source: 'store' };",
        replace: "if (!pushedOnly) return { ...holder.hold({ ...tokens, version: current.version }), source: 'server' };",
      },
      {
        // The sign-in's change notification, heard while the refresh writes, would be checked
        // again after the write and repair the session: taken for the write's echo instead.
        file: 'adapters/core/store-sync.ts',
        find: 'if (holder.writing) return holder.afterWrites(recheck);',
        replace: 'if (holder.writing) return;',
      },
    ],
  },
  {
    name: 'ignores-lost-lock',
    breaks:
      "a holder that lost the lock while frozen (taken over after staleMs) ignores its handle's signal on resuming and presents the refresh token the new holder already rotated",
    family: families.frozenLockHolder,
    familyName: 'frozenLockHolder',
    patches: [
      {
        file: 'adapters/core/refresh-task.ts',
        find: 'if (handle?.signal?.aborted) throw handle.signal.reason;',
        replace: '// (mutant) the lost lock is ignored',
      },
    ],
  },
];

/** The library a mutant runs: a patched copy of the source, or the project itself for port mutants. */
export async function mutantLibrary(mutant: Mutant): Promise<Library> {
  if (!mutant.patches?.length) return project;
  const dir = join(ROOT, '.scratch', 'mutants', mutant.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(ROOT, 'adapters'), join(dir, 'adapters'), { recursive: true });
  cpSync(join(ROOT, 'machines'), join(dir, 'machines'), { recursive: true });
  for (const patch of mutant.patches) {
    const path = join(dir, patch.file);
    const source = readFileSync(path, 'utf8');
    const count = source.split(patch.find).length - 1;
    if (count !== 1) {
      throw new Error(
        `[protocol] mutant "${mutant.name}": the text to break occurs ${count} times in ${patch.file} (expected once). The source changed: rewrite this mutant against it (tests/protocol/mutants.ts).\n  looked for: ${JSON.stringify(patch.find)}`,
      );
    }
    writeFileSync(path, source.replace(patch.find, patch.replace));
  }
  return loadLibrary(dir, `mutant ${mutant.name}`);
}

/** A family with the mutant's broken ports. */
export function withPorts(mutant: Mutant, spec: WorldSpec): WorldSpec {
  return { ...spec, ...mutant.ports };
}
