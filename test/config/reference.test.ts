/** Settings tables from zod schemas (src/config/reference.ts), for docs/detection.md and docs/delivery.md. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { renderBlocks, schemaSummary, settingRows, settingsTable } from '../../src/config/reference.js';

const Schema = z
  .object({
    type: z.literal('x'),
    path: z.string().describe('Where.'),
    batch: z.number().int().default(10).describe('Lines | batch.'),
    every: z.union([z.number(), z.string()]).optional().describe('A duration.'),
    tls: z.object({ enabled: z.boolean().default(true).describe('TLS.') }).prefault({}),
    labels: z.record(z.string(), z.string()).optional(),
  })
  .strict()
  .describe('An example component.');

describe('settingRows', () => {
  const rows = settingRows(Schema, { skip: ['type'] });

  it('flattens nested objects, marks what must be given, and names durations and maps', () => {
    expect(rows.map((r) => [r.path, r.type, r.required])).toEqual([
      ['path', 'string', true],
      ['batch', 'integer', false],
      ['every', 'duration', false],
      ['tls.enabled', 'boolean', false],
      ['labels', 'map', false],
    ]);
    expect(schemaSummary(Schema)).toBe('An example component.');
  });

  it('renders a table whose cells keep their columns', () => {
    const table = settingsTable(rows).split('\n');
    expect(table[2]).toBe('| `path` | string | required | Where. |');
    expect(table[3]).toBe('| `batch` | integer | `10` | Lines \\| batch. |');
  });

  it('a type name given by the caller wins', () => {
    const named = settingRows(Schema, { typeName: (s) => (s.type === 'boolean' ? 'flag' : undefined) });
    expect(named.find((r) => r.path === 'tls.enabled')?.type).toBe('flag');
  });
});

describe('renderBlocks', () => {
  it('fills each block between its markers and keeps the rest', () => {
    const doc = 'a\n<!-- generated:t (npm run docs) -->\nold\n<!-- end generated:t -->\nb\n';
    expect(renderBlocks(doc, { t: () => 'new' })).toBe(
      'a\n<!-- generated:t (npm run docs) -->\nnew\n<!-- end generated:t -->\nb\n',
    );
    expect(() => renderBlocks(doc, {})).toThrow(/no generator for block "t"/);
  });
});
