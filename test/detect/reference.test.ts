/** docs/detection.md's rule and settings tables are the specs' (src/detect/reference.ts, `npm run docs`). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  GENERATED_BLOCKS,
  generatedBlocks,
  renderGenerated,
  rulesTable,
  settingRows,
} from '../../src/detect/reference.js';
import { DETECTORS } from '../../src/detect/registry.js';
import { RULES } from '../../src/detect/rules.js';

const DOC = resolve(import.meta.dirname, '../../docs/detection.md');

describe('docs/detection.md generated tables', () => {
  const doc = readFileSync(DOC, 'utf8');

  it('holds every generated block', () => {
    expect(generatedBlocks(doc).sort()).toEqual(Object.keys(GENERATED_BLOCKS).sort());
  });

  it('matches the specs (run `npm run docs` when this fails)', () => {
    expect(renderGenerated(doc)).toBe(doc);
  });

  it('a stale table is rewritten and the text around it kept', () => {
    const stale = doc.replace(/\| volume-spike \| [^\n]*/, '| volume-spike | stale |');
    expect(stale).not.toBe(doc);
    expect(renderGenerated(stale)).toBe(doc);
  });

  it('a block with no generator is an error naming it', () => {
    expect(() =>
      renderGenerated('<!-- generated:nope (npm run docs) -->\n<!-- end generated:nope -->'),
    ).toThrow(/no generator for block "nope"/);
  });
});

describe('rules table', () => {
  const table = rulesTable();

  it('has one row per rule, with its name, severity and realert window', () => {
    const rows = table.split('\n').slice(2);
    expect(rows).toHaveLength(RULES.length);
    for (const [i, r] of RULES.entries()) {
      expect(rows[i]).toContain(`| ${r.id} | ${r.name} | ${r.severity}`);
      expect(rows[i]).toContain(`| ${r.realert ?? '`realert`'} |`);
    }
  });

  it('names the detector whose settings configure a rule it does not own by name', () => {
    expect(table).toMatch(/\| unaccounted-gateway-leg \|[^\n]*\| `detectors\.gateway-silence` \|/);
    expect(table).toMatch(/\| state-eviction \|[^\n]*\| \(engine\) \|/);
  });

  it('escapes pipes inside cells so the table keeps its columns', () => {
    const row = table.split('\n').find((l) => l.startsWith('| name-mismatch')) ?? '';
    expect(row).toContain('outbound\\|P\\|\\|name');
    expect(row.split(/(?<!\\)\|/)).toHaveLength(8);
  });
});

describe('settingRows', () => {
  it('flattens nested settings, shows durations as written and lists entries of lists', () => {
    const rows = settingRows(DETECTORS['volume-spike'].config);
    expect(rows.find((r) => r.path === 'windows.10m.factor')).toMatchObject({
      type: 'number',
      default: '`6`',
    });
    expect(rows.find((r) => r.path === 'quiet')).toMatchObject({ type: 'duration' });
  });
});
