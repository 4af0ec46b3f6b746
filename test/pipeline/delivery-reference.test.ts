/** docs/delivery.md's sink and source tables are the specs' (src/pipeline/delivery-reference.ts, `npm run docs`). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedBlocks } from '../../src/config/reference.js';
import { DELIVERY_BLOCKS, renderDeliveryDoc, sinksTable } from '../../src/pipeline/delivery-reference.js';
import { SINKS } from '../../src/sinks/registry.js';
import { SOURCES } from '../../src/sources/registry.js';

const DOC = resolve(import.meta.dirname, '../../docs/delivery.md');

describe('docs/delivery.md generated tables', () => {
  const doc = readFileSync(DOC, 'utf8');

  it('holds every generated block', () => {
    expect(generatedBlocks(doc).sort()).toEqual(Object.keys(DELIVERY_BLOCKS).sort());
  });

  it('matches the specs (run `npm run docs` when this fails)', () => {
    expect(renderDeliveryDoc(doc)).toBe(doc);
  });

  it('a stale row is rewritten and the text around it kept', () => {
    const stale = doc.replace(/\| `kafka` \| Alerts[^\n]*/, '| `kafka` | stale |');
    expect(stale).not.toBe(doc);
    expect(renderDeliveryDoc(stale)).toBe(doc);
  });

  it('has a section for every sink and source, with its example and its settings', () => {
    for (const s of [...SINKS, ...SOURCES]) expect(doc).toContain(`### \`${s.type}\`\n`);
    expect(doc).toMatch(/### `webhook`\n[^\n]+\n\n```yaml\nsinks:\n {2}- type: webhook\n/);
    expect(doc).toMatch(/\| `url` \| string \| required \| [^\n]+ \|/);
    expect(doc).toMatch(/\| `route\.rules` \| list of rule id \|/);
    expect(doc).toMatch(/\| `maxBatchesAhead` \| integer \| `1` \|/);
  });
});

describe('sinks table', () => {
  it('has one row per sink: its summary and what a batch delivered again does', () => {
    const rows = sinksTable().split('\n').slice(2);
    expect(rows.map((r) => r.split(' | ')[0])).toEqual(SINKS.map((s) => `| \`${s.type}\``));
    for (const [i, s] of SINKS.entries()) expect(rows[i]).toContain(s.redelivery.replace(/\|/g, '\\|'));
  });
});
