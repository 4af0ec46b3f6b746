/** Source types by `type`: one line each. */
import { z } from 'zod';
import { FileSourceConfigSchema, KafkaSourceConfigSchema, StdinSourceConfigSchema } from './config.js';
import { FileSource } from './file.js';
import { KafkaSource } from './kafka.js';
import { StdinSource } from './stdin.js';
import type { Source } from './types.js';

export const SourceConfigSchema = z.discriminatedUnion('type', [
  FileSourceConfigSchema,
  StdinSourceConfigSchema,
  KafkaSourceConfigSchema,
]);
export type SourceConfig = z.infer<typeof SourceConfigSchema>;

export const SourcesSchema = z
  .array(SourceConfigSchema)
  .default([{ type: 'stdin', batchSize: 1000 }])
  .describe('Where lines come from: file (plain or .gz), stdin, kafka.');

export function createSource(config: SourceConfig, env: NodeJS.ProcessEnv = process.env): Source {
  switch (config.type) {
    case 'file':
      return new FileSource(config);
    case 'stdin':
      return new StdinSource(config);
    case 'kafka':
      return new KafkaSource(config, env);
  }
}
