/**
 * The sinks' dead-letter output: one JSON line per thing a sink gave up on, with the reason,
 * fsynced before the batch is acknowledged (a dead letter is part of "delivered").
 */
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SentinelError } from '../errors.js';
import type { DeadLetter } from '../sinks/types.js';

export class DeadLetterFile {
  private handle: FileHandle | null = null;
  private opening: Promise<FileHandle> | null = null;
  count = 0;

  constructor(readonly path: string) {}

  private async file(): Promise<FileHandle> {
    if (this.handle !== null) return this.handle;
    this.opening ??= (async () => {
      try {
        await mkdir(dirname(this.path), { recursive: true });
        this.handle = await open(this.path, 'a');
        return this.handle;
      } catch (err) {
        throw new SentinelError(
          'ESN_SINK',
          `Cannot open the dead-letter file ${this.path}: ${(err as Error).message}`,
          {
            cause: err,
            where: this.path,
          },
        );
      }
    })();
    return this.opening;
  }

  async write(record: DeadLetter): Promise<void> {
    const f = await this.file();
    await f.write(`${JSON.stringify(record)}\n`);
    await f.sync();
    this.count++;
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
    this.opening = null;
  }
}
