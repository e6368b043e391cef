/**
 * Not part of the suite: replays one interleaving and prints its whole trace, to read what
 * happened in a failure the explorer printed (its `scenario:` and `schedule (choices):`).
 *   AUTHCHART_REPLAY='{"spec": {…}, "choices": [0, 2]}' npx vitest run tests/protocol/replay.test.ts
 *   AUTHCHART_REPLAY=path/to/file.json AUTHCHART_MUTANT=no-hold-bound npx vitest run tests/protocol/replay.test.ts
 * `AUTHCHART_LIB=<dir>` runs the copy of `adapters/` and `machines/` in that directory instead
 * (for instance the code before a fix: `git archive <commit> adapters machines | tar -x -C .scratch/before`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { it } from 'vitest';
import { formatFailure } from './explore.js';
import { resolve } from 'node:path';
import { loadLibrary, project } from './library.js';
import { MUTANTS, mutantLibrary, withPorts } from './mutants.js';
import { runScenario } from './run.js';
import { finalize, type WorldSpec } from './scenario.js';
import { choicesChooser } from './scheduler.js';

it.runIf(process.env.AUTHCHART_REPLAY)(
  'replay one interleaving and print its trace',
  async () => {
    const source = process.env.AUTHCHART_REPLAY!;
    const { spec, choices = [] } = JSON.parse(existsSync(source) ? readFileSync(source, 'utf8') : source) as { spec: WorldSpec; choices?: number[] };
    const mutant = MUTANTS.find((m) => m.name === process.env.AUTHCHART_MUTANT);
    const lib = mutant
      ? await mutantLibrary(mutant)
      : process.env.AUTHCHART_LIB
        ? await loadLibrary(resolve(process.env.AUTHCHART_LIB), process.env.AUTHCHART_LIB)
        : project;
    const world = finalize(mutant ? withPorts(mutant, spec) : spec);
    const result = await runScenario(lib, world, choicesChooser(choices));
    console.log(formatFailure({ seed: null, path: null, spec: world, choices, result }, 100_000));
  },
  120_000,
);
