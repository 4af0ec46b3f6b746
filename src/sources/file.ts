/** A log file (plain or gzip) read as a stream, in batches whose positions are 1-based line numbers. */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { SentinelError } from '../errors.js';
import type { FileSourceConfig } from './config.js';
import type { LineBatch, Source } from './types.js';

class LineNumberBatch implements LineBatch {
  constructor(
    readonly source: string,
    readonly lines: readonly string[],
    private readonly firstLine: number,
  ) {}
  position(i: number): string {
    return String(this.firstLine + i);
  }
  async ack(): Promise<void> {}
}

/** Batches lines of any readable stream (files, stdin). */
export async function* readLineBatches(
  input: Readable,
  source: string,
  batchSize: number,
  signal: AbortSignal,
): AsyncIterable<LineBatch> {
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  const onAbort = (): void => rl.close();
  signal.addEventListener('abort', onAbort, { once: true });
  let lines: string[] = [];
  let first = 1;
  try {
    for await (const line of rl) {
      lines.push(line);
      if (lines.length >= batchSize) {
        yield new LineNumberBatch(source, lines, first);
        first += lines.length;
        lines = [];
      }
    }
    if (lines.length > 0) yield new LineNumberBatch(source, lines, first);
  } finally {
    signal.removeEventListener('abort', onAbort);
    rl.close();
  }
}

export class FileSource implements Source {
  readonly name: string;
  private stream: Readable | null = null;

  constructor(private readonly config: Pick<FileSourceConfig, 'path'> & Partial<FileSourceConfig>) {
    this.name = `file:${config.path}`;
  }

  async *batches(signal: AbortSignal): AsyncIterable<LineBatch> {
    const file = createReadStream(this.config.path);
    const opened = new Promise<void>((resolve, reject) => {
      file.once('open', () => resolve());
      file.once('error', (err) =>
        reject(
          new SentinelError(
            'ESN_SOURCE',
            `cannot read ${this.config.path}: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
            { where: this.name, cause: err },
          ),
        ),
      );
    });
    await opened;
    const gz = this.config.path.endsWith('.gz');
    const stream: Readable = gz ? file.pipe(createGunzip()) : file;
    if (gz) {
      file.on('error', (err) => stream.destroy(err));
    }
    this.stream = stream;
    try {
      yield* readLineBatches(stream, this.name, this.config.batchSize ?? 1000, signal);
    } catch (err) {
      throw new SentinelError('ESN_SOURCE', `reading ${this.config.path} failed: ${(err as Error).message}`, {
        where: this.name,
        cause: err,
      });
    }
  }

  async close(): Promise<void> {
    this.stream?.destroy();
  }
}
