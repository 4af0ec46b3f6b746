/** Writes JSON lines to standard output (the embedded mode's default sink). */
import { z } from 'zod';
import { encodeJsonLines, IncludeSchema } from './json-lines.js';
import type { SinkSpec } from './spec.js';
import type { Sink, SinkBatch } from './types.js';

export const StdoutSinkConfigSchema = z
  .object({
    type: z.literal('stdout'),
    name: z.string().optional().describe('A name for logs and metrics; defaults to the type.'),
    include: IncludeSchema,
  })
  .strict()
  .describe('JSON lines on standard output.');

export type StdoutSinkConfig = z.infer<typeof StdoutSinkConfigSchema>;

export class StdoutSink implements Sink {
  readonly name: string;
  readonly wantsEvents: boolean;

  constructor(
    private readonly config: StdoutSinkConfig,
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {
    this.name = config.name ?? 'stdout';
    this.wantsEvents = config.include.includes('events');
  }

  async start(): Promise<void> {}

  write(batch: SinkBatch): Promise<void> {
    const text = encodeJsonLines(batch, this.config.include);
    if (text === '') return Promise.resolve();
    // Resolve when the stream took the chunk (honours backpressure on a slow pipe).
    return new Promise((resolve, reject) => {
      this.out.write(text, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {}
}

export const stdoutSinkSpec = {
  type: 'stdout',
  redelivery: 'written again (each alert line carries its `alert.id`)',
  config: StdoutSinkConfigSchema,
  example: { type: 'stdout', include: ['alerts'] },
  create: (config) => new StdoutSink(config),
  defaultName: () => 'stdout',
} satisfies SinkSpec<typeof StdoutSinkConfigSchema>;
