/**
 * docs/detection.md's tables of rules and settings, rendered from the detectors' specs and the
 * `detection` schema (as Redpanda Connect generates its component pages from each ConfigSpec), so
 * the docs cannot drift from the code: `npm run docs` rewrites them, test/detect/reference.test.ts
 * fails when they differ.
 */
import { z } from 'zod';
import { DetectionConfigSchema } from './config.js';
import { DETECTORS } from './registry.js';
import { RULE_IDS, RULES } from './rules.js';

/** The part of a JSON Schema (draft 2020-12, as zod writes it) the tables read. */
interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: readonly unknown[];
  const?: unknown;
  anyOf?: readonly JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  propertyNames?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
}

/** One setting: dotted path, type, default and description. */
export interface SettingRow {
  path: string;
  type: string;
  default: string;
  description: string;
}

function inputSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

function typeOf(s: JsonSchema): string {
  if (
    s.enum !== undefined &&
    s.enum.length === RULE_IDS.length &&
    RULE_IDS.every((id) => s.enum?.includes(id))
  )
    return 'rule id';
  if (s.enum !== undefined) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  const kinds = s.anyOf?.map((a) => a.type);
  if (kinds?.length === 2 && kinds.includes('number') && kinds.includes('string')) return 'duration';
  if (s.anyOf !== undefined) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.type === 'array') return `list of ${s.items === undefined ? 'any' : typeOf(s.items)}`;
  if (s.type === 'object' && s.propertyNames !== undefined) return 'map by rule id';
  return s.type ?? 'any';
}

function defaultOf(s: JsonSchema): string {
  if (s.default === undefined) return '';
  return `\`${typeof s.default === 'string' ? s.default : JSON.stringify(s.default)}\``;
}

/** Leaf settings of an object schema; nested objects with their own fields are flattened (`a.b`). */
export function settingRows(schema: z.ZodType, skip: readonly string[] = []): SettingRow[] {
  const rows: SettingRow[] = [];
  const walk = (s: JsonSchema, prefix: string): void => {
    for (const [key, field] of Object.entries(s.properties ?? {})) {
      const path = prefix === '' ? key : `${prefix}.${key}`;
      if (skip.includes(path)) continue;
      if (field.type === 'object' && field.properties !== undefined) {
        walk(field, path);
        continue;
      }
      rows.push({
        path,
        type: typeOf(field),
        default: defaultOf(field),
        description: field.description ?? '',
      });
      // A list of objects (exceptions): each entry's fields as `path[].field`.
      if (field.type === 'array' && field.items?.properties !== undefined) walk(field.items, `${path}[]`);
    }
  };
  walk(inputSchema(schema), '');
  return rows;
}

/** Markdown table cell: one line, `|` escaped. */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/(?<!\\)\|/g, '\\|');
}

function settingsTable(rows: readonly SettingRow[]): string {
  return [
    '| setting | type | default | description |',
    '|---|---|---|---|',
    ...rows.map((r) => `| \`${r.path}\` | ${r.type} | ${cell(r.default)} | ${cell(r.description)} |`),
  ].join('\n');
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

const BLOCK = /(<!-- generated:([a-z-]+) \(npm run docs\) -->)\n(?:[\s\S]*?\n)?(<!-- end generated:\2 -->)/g;

/** `doc` with every generated block rendered anew; throws on a marker with no generator. */
export function renderGenerated(doc: string): string {
  return doc.replace(BLOCK, (_all, open: string, name: string, close: string) => {
    const render = GENERATED_BLOCKS[name];
    if (render === undefined) throw new Error(`docs: no generator for block "${name}"`);
    return `${open}\n${render()}\n${close}`;
  });
}

/** Names of the generated blocks present in `doc`. */
export function generatedBlocks(doc: string): string[] {
  return [...doc.matchAll(BLOCK)].map((m) => m[2] as string);
}
