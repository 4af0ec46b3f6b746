/** Lines from standard input (replays: `zcat x.gz | egress-sentinel run --source stdin`). */
import { type StdinSourceConfig, StdinSourceConfigSchema } from './config.js';
import { readLineBatches } from './file.js';
import type { SourceSpec } from './spec.js';
import type { LineBatch, Source } from './types.js';

export class StdinSource implements Source {
  readonly name = 'stdin';
  constructor(private readonly config: Partial<StdinSourceConfig> = {}) {}

  batches(signal: AbortSignal): AsyncIterable<LineBatch> {
    return readLineBatches(process.stdin, 'stdin', this.config.batchSize ?? 1000, signal);
  }

  async close(): Promise<void> {
    process.stdin.pause();
  }
}

export const stdinSourceSpec = {
  type: 'stdin',
  config: StdinSourceConfigSchema,
  example: { type: 'stdin' },
  create: (config) => new StdinSource(config),
} satisfies SourceSpec<typeof StdinSourceConfigSchema>;
