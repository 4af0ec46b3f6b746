/** Appends JSON lines to a file, fsynced per batch so an ack means the lines are on disk. */
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { SentinelError } from '../errors.js';
import { encodeJsonLines, IncludeSchema } from './json-lines.js';
import type { SinkSpec } from './spec.js';
import type { Sink, SinkBatch } from './types.js';

export const FileSinkConfigSchema = z
  .object({
    type: z.literal('file'),
    name: z.string().optional().describe('A name for logs and metrics; defaults to `file:<path>`.'),
    path: z.string().min(1).describe('File to append to (created with its folder), e.g. "out/alerts.jsonl".'),
    include: IncludeSchema,
    fsync: z
      .boolean()
      .default(true)
      .describe('fsync after each batch, so an acknowledged batch survives a crash.'),
  })
  .strict()
  .describe('JSON lines appended to a file.');

export type FileSinkConfig = z.infer<typeof FileSinkConfigSchema>;

export class FileSink implements Sink {
  readonly name: string;
  readonly wantsEvents: boolean;
  private handle: FileHandle | null = null;

  constructor(private readonly config: FileSinkConfig) {
    this.name = config.name ?? `file:${config.path}`;
    this.wantsEvents = config.include.includes('events');
  }

  async start(): Promise<void> {
    try {
      await mkdir(dirname(this.config.path), { recursive: true });
      this.handle = await open(this.config.path, 'a');
    } catch (err) {
      throw new SentinelError(
        'ESN_SINK',
        `Cannot open ${this.config.path} for writing: ${(err as Error).message}`,
        {
          cause: err,
          where: this.name,
        },
      );
    }
  }

  async write(batch: SinkBatch): Promise<void> {
    if (this.handle === null)
      throw new SentinelError('ESN_SINK', 'The file sink was not started.', { where: this.name });
    const text = encodeJsonLines(batch, this.config.include);
    if (text === '') return;
    await this.handle.write(text);
    if (this.config.fsync) await this.handle.sync();
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
  }
}

export const fileSinkSpec = {
  type: 'file',
  redelivery: 'appended again (each alert line carries its `alert.id`)',
  config: FileSinkConfigSchema,
  example: { type: 'file', path: 'out/alerts.jsonl', include: ['alerts', 'flows'] },
  create: (config) => new FileSink(config),
  defaultName: (config) => `file:${config.path}`,
} satisfies SinkSpec<typeof FileSinkConfigSchema>;
