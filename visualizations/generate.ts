/**
 * `npm run diagrams`: write the diagrams of the statechart into visualizations/, and render
 * the SVG with Graphviz (`dot`, offline). `--check` only compares, without writing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { refreshMachine } from '../machines/refresh.machine.js';
import { PAGES_WITH_DIAGRAM, generateDiagrams, replaceEmbeddedStateDiagrams } from './diagram.js';

const here = dirname(fileURLToPath(import.meta.url));
const files = generateDiagrams(refreshMachine);

if (process.argv.includes('--check')) {
  const stale = Object.entries(files).filter(([name, text]) => {
    try {
      return readFileSync(join(here, name), 'utf8') !== text;
    } catch {
      return true;
    }
  });
  if (stale.length) {
    console.error(`Stale diagrams: ${stale.map(([n]) => n).join(', ')}. Run \`npm run diagrams\`.`);
    process.exit(1);
  }
  console.log('Diagrams are up to date.');
  process.exit(0);
}

for (const [name, text] of Object.entries(files)) {
  writeFileSync(join(here, name), text);
  console.log(`wrote visualizations/${name}`);
}
for (const page of PAGES_WITH_DIAGRAM) {
  const path = join(here, '..', page);
  if (!existsSync(path)) continue;
  const before = readFileSync(path, 'utf8');
  const after = replaceEmbeddedStateDiagrams(before, files['refresh-machine.mmd']!);
  if (after !== before) {
    writeFileSync(path, after);
    console.log(`updated the state diagram in ${page}`);
  }
}

const dot = spawnSync('dot', ['-Tsvg', join(here, 'refresh-machine.dot'), '-o', join(here, 'refresh-machine.svg')], { encoding: 'utf8' });
if (dot.error || dot.status !== 0) {
  console.error(
    `Could not render visualizations/refresh-machine.svg: Graphviz \`dot\` ${dot.error ? 'was not found' : `failed: ${dot.stderr}`}.\n` +
      'Install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz) and run `npm run diagrams` again.\n' +
      'The .mmd, .md, .dot and .json files above are written and need no Graphviz.',
  );
  process.exit(1);
}
console.log('wrote visualizations/refresh-machine.svg (Graphviz)');
