/**
 * `npm run docs`: rewrites the generated blocks of docs/detection.md (rules, detection settings,
 * each detector's settings) and docs/delivery.md (sinks and sources, each one's settings) from the
 * specs. `--check` exits 1 when they differ instead.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderGenerated } from '../src/detect/reference.js';
import { renderDeliveryDoc } from '../src/pipeline/delivery-reference.js';

const DOCS: readonly [string, (doc: string) => string, string][] = [
  ['detection.md', renderGenerated, "the detectors' specs"],
  ['delivery.md', renderDeliveryDoc, "the sinks' and sources' specs"],
];

for (const [name, render, from] of DOCS) {
  const file = resolve(import.meta.dirname, '../../docs', name);
  const before = readFileSync(file, 'utf8');
  const after = render(before);
  if (process.argv.includes('--check')) {
    if (after !== before) {
      process.stderr.write(`${file} is out of date with ${from}: run npm run docs\n`);
      process.exitCode = 1;
    }
  } else if (after !== before) {
    writeFileSync(file, after);
    process.stdout.write(`docs: rewrote the generated tables of ${file}\n`);
  } else process.stdout.write(`docs: ${file} is up to date\n`);
}
