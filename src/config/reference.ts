/**
 * Reference tables rendered from zod schemas (as Redpanda Connect generates its component pages from
 * each ConfigSpec), and the generated blocks of a Markdown file they fill: `npm run docs` rewrites
 * the blocks (scripts/docs.ts), a test per document fails when they drift from the code.
 */
import { z } from 'zod';

/** The part of a JSON Schema (draft 2020-12, as zod writes it) the tables read. */
export interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: readonly unknown[];
  const?: unknown;
  anyOf?: readonly JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: readonly string[];
  propertyNames?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
}

/** One setting: dotted path, type, default and description. */
export interface SettingRow {
  path: string;
  type: string;
  default: string;
  /** Must be given (no default). */
  required: boolean;
  description: string;
}

export interface SettingRowOptions {
  /** Dotted paths left out (with what is under them). */
  skip?: readonly string[];
  /** A name for a type the generic rules would spell out (an enum of every rule id), else undefined. */
  typeName?: (s: JsonSchema) => string | undefined;
}

function inputSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

function typeOf(s: JsonSchema, named: SettingRowOptions['typeName']): string {
  const name = named?.(s);
  if (name !== undefined) return name;
  if (s.enum !== undefined) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  const kinds = s.anyOf?.map((a) => a.type);
  if (kinds?.length === 2 && kinds.includes('number') && kinds.includes('string')) return 'duration';
  if (s.anyOf !== undefined) return s.anyOf.map((a) => typeOf(a, named)).join(' \\| ');
  if (s.type === 'array') return `list of ${s.items === undefined ? 'any' : typeOf(s.items, named)}`;
  if (s.type === 'object' && (s.propertyNames !== undefined || typeof s.additionalProperties === 'object'))
    return 'map';
  return s.type ?? 'any';
}

function defaultOf(s: JsonSchema): string {
  if (s.default === undefined) return '';
  return `\`${typeof s.default === 'string' ? s.default : JSON.stringify(s.default)}\``;
}

/** Leaf settings of an object schema; nested objects with their own fields are flattened (`a.b`). */
export function settingRows(schema: z.ZodType, options: SettingRowOptions = {}): SettingRow[] {
  const skip = options.skip ?? [];
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
        type: typeOf(field, options.typeName),
        default: defaultOf(field),
        required: field.default === undefined && (s.required?.includes(key) ?? false),
        description: field.description ?? '',
      });
      // A list of objects (exceptions): each entry's fields as `path[].field`.
      if (field.type === 'array' && field.items?.properties !== undefined) walk(field.items, `${path}[]`);
    }
  };
  walk(inputSchema(schema), '');
  return rows;
}

/** The schema's own description (a component's one-line summary), or ''. */
export function schemaSummary(schema: z.ZodType): string {
  return inputSchema(schema).description ?? '';
}

/** Markdown table cell: one line, `|` escaped. */
export function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/(?<!\\)\|/g, '\\|');
}

export function settingsTable(rows: readonly SettingRow[]): string {
  return [
    '| setting | type | default | description |',
    '|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| \`${r.path}\` | ${r.type} | ${r.required ? 'required' : cell(r.default)} | ${cell(r.description)} |`,
    ),
  ].join('\n');
}

const BLOCK = /(<!-- generated:([a-z-]+) \(npm run docs\) -->)\n(?:[\s\S]*?\n)?(<!-- end generated:\2 -->)/g;

/** `doc` with every generated block rendered anew; throws on a marker with no generator. */
export function renderBlocks(doc: string, blocks: Readonly<Record<string, () => string>>): string {
  return doc.replace(BLOCK, (_all, open: string, name: string, close: string) => {
    const render = blocks[name];
    if (render === undefined) throw new Error(`docs: no generator for block "${name}"`);
    return `${open}\n${render()}\n${close}`;
  });
}

/** Names of the generated blocks present in `doc`. */
export function generatedBlocks(doc: string): string[] {
  return [...doc.matchAll(BLOCK)].map((m) => m[2] as string);
}
