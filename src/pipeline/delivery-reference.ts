/**
 * docs/delivery.md's tables of sinks and sources, rendered from their specs (each schema's summary
 * and settings, the spec's example and, for sinks, what a redelivered batch does), as
 * detect/reference.ts renders docs/detection.md's: `npm run docs` rewrites them,
 * test/pipeline/delivery-reference.test.ts fails when they differ.
 */

import { stringify } from 'yaml';
import type { z } from 'zod';
import { cell, renderBlocks, schemaSummary, settingRows, settingsTable } from '../config/reference.js';
import { ruleTypeName } from '../detect/reference.js';
import { SINKS } from '../sinks/registry.js';
import { SOURCES } from '../sources/registry.js';

interface ComponentSpec {
  readonly type: string;
  readonly config: z.ZodType;
  readonly example: unknown;
}

/** One section per component: its summary, a working example and every setting but `type`. */
function componentSections(list: readonly ComponentSpec[], key: 'sinks' | 'sources'): string {
  return list
    .map((spec) =>
      [
        `### \`${spec.type}\``,
        schemaSummary(spec.config),
        '',
        '```yaml',
        stringify({ [key]: [spec.example] }).trimEnd(),
        '```',
        '',
        settingsTable(settingRows(spec.config, { skip: ['type'], typeName: ruleTypeName })),
      ].join('\n'),
    )
    .join('\n\n');
}

/** Every sink type: what it writes and what a receiver sees when a batch comes again. */
export function sinksTable(): string {
  return [
    '| type | what | a batch delivered again |',
    '|---|---|---|',
    ...SINKS.map((s) => `| \`${s.type}\` | ${cell(schemaSummary(s.config))} | ${cell(s.redelivery)} |`),
  ].join('\n');
}

export function sourcesTable(): string {
  return [
    '| type | what |',
    '|---|---|',
    ...SOURCES.map((s) => `| \`${s.type}\` | ${cell(schemaSummary(s.config))} |`),
  ].join('\n');
}

/** Generated blocks of docs/delivery.md by marker name. */
export const DELIVERY_BLOCKS: Readonly<Record<string, () => string>> = {
  sinks: sinksTable,
  'sink-settings': () => componentSections(SINKS as readonly ComponentSpec[], 'sinks'),
  sources: sourcesTable,
  'source-settings': () => componentSections(SOURCES as readonly ComponentSpec[], 'sources'),
};

/** `doc` (docs/delivery.md) with every generated block rendered anew. */
export function renderDeliveryDoc(doc: string): string {
  return renderBlocks(doc, DELIVERY_BLOCKS);
}
