/**
 * docs/detection.md's tables of rules and settings, rendered from the detectors' specs and the
 * `detection` schema (as Redpanda Connect generates its component pages from each ConfigSpec), so
 * the docs cannot drift from the code: `npm run docs` rewrites them, test/detect/reference.test.ts
 * fails when they differ. The generic parts (schema to rows, blocks) are config/reference.ts.
 */
import type { z } from 'zod';
import {
  cell,
  generatedBlocks,
  type JsonSchema,
  renderBlocks,
  type SettingRow,
  settingRows as settingRowsOf,
  settingsTable,
} from '../config/reference.js';
import { DetectionConfigSchema } from './config.js';
import { DETECTORS } from './registry.js';
import { RULE_IDS, RULES } from './rules.js';

/** Type names of the detection settings: an enum of every rule id reads "rule id". */
export function ruleTypeName(s: JsonSchema): string | undefined {
  if (s.type === 'object' && s.propertyNames !== undefined) return 'map by rule id';
  const everyRule =
    s.enum !== undefined && s.enum.length === RULE_IDS.length && RULE_IDS.every((id) => s.enum?.includes(id));
  return everyRule ? 'rule id' : undefined;
}

/** Settings of a detection schema. */
export function settingRows(schema: z.ZodType, skip: readonly string[] = []): SettingRow[] {
  return settingRowsOf(schema, { skip, typeName: ruleTypeName });
}

/** The rules table: one row per rule id, in registry order. */
export function rulesTable(): string {
  const owner = new Map<string, string>();
  for (const [name, spec] of Object.entries(DETECTORS)) for (const r of spec.rules) owner.set(r.id, name);
  return [
    '| rule | name | severity | realert | settings | fires when |',
    '|---|---|---|---|---|---|',
    ...RULES.map((r) => {
      const by = owner.get(r.id);
      const severity = r.severityNote === undefined ? r.severity : `${r.severity} (${r.severityNote})`;
      return `| ${r.id} | ${cell(r.name)} | ${cell(severity)} | ${r.realert ?? '`realert`'} | ${by === undefined ? '(engine)' : `\`detectors.${by}\``} | ${cell(r.firesWhen)} |`;
    }),
  ].join('\n');
}

/** The `detection` settings other than the detectors' own. */
export function detectionSettingsTable(): string {
  return settingsTable(settingRows(DetectionConfigSchema, ['detectors']));
}

/** One section per detector: its summary and every setting. */
export function detectorSettingsTables(): string {
  return Object.entries(DETECTORS)
    .map(
      ([name, spec]) =>
        `### \`detection.detectors.${name}\`\n${spec.summary}\n\n${settingsTable(settingRows(spec.config))}`,
    )
    .join('\n\n');
}

/** Generated blocks of docs/detection.md by marker name. */
export const GENERATED_BLOCKS: Readonly<Record<string, () => string>> = {
  rules: rulesTable,
  'detection-settings': detectionSettingsTable,
  'detector-settings': detectorSettingsTables,
};

/** `doc` with every generated block rendered anew; throws on a marker with no generator. */
export function renderGenerated(doc: string): string {
  return renderBlocks(doc, GENERATED_BLOCKS);
}

export { generatedBlocks };
