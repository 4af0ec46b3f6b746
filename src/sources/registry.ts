/** Source types by `type`, one line each (a module's SourceSpec, sources/spec.ts). */
import { z } from 'zod';
import { fileSourceSpec } from './file.js';
import { kafkaSourceSpec } from './kafka.js';
import type { SourceSpec } from './spec.js';
import { stdinSourceSpec } from './stdin.js';
import type { Source } from './types.js';

export const SOURCES = [fileSourceSpec, stdinSourceSpec, kafkaSourceSpec] as const;

/** The tuple of config schemas, as `z.discriminatedUnion` wants it. */
type ConfigsOf<T extends readonly { config: unknown }[]> = { -readonly [K in keyof T]: T[K]['config'] };

export const SourceConfigSchema = z.discriminatedUnion(
  'type',
  SOURCES.map((s) => s.config) as unknown as ConfigsOf<typeof SOURCES>,
);
export type SourceConfig = z.infer<typeof SourceConfigSchema>;

export const SourcesSchema = z
  .array(SourceConfigSchema)
  .default([{ type: 'stdin', batchSize: 1000 }])
  .describe(`Where lines come from: ${SOURCES.map((s) => s.type).join(', ')}.`);

const BY_TYPE = new Map<string, SourceSpec>(SOURCES.map((s) => [s.type, s as unknown as SourceSpec]));

export function createSource(config: SourceConfig, env: NodeJS.ProcessEnv = process.env): Source {
  return (BY_TYPE.get(config.type) as SourceSpec).create(config, env);
}

/** Problems zod cannot see (a missing file, an unset secret variable), each prefixed with its path. */
export function sourceProblems(
  sources: readonly SourceConfig[],
  env: NodeJS.ProcessEnv,
  path = 'sources',
): string[] {
  return sources.flatMap((s, i) =>
    ((BY_TYPE.get(s.type) as SourceSpec).problems?.(s, env) ?? []).map((p) => `${path}[${i}].${p}`),
  );
}
