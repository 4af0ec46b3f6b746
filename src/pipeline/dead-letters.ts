/**
 * A long-running pipeline's dead-letter output (`delivery.deadLetterFile`): one JSON line per line
 * it could not read, event behind event time, or document a sink gave up on, with the reason,
 * fsynced before the batch is acknowledged (a dead letter is part of "delivered").
 */
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DeadLetter } from '../dead-letter.js';
import { SentinelError } from '../errors.js';

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

  /** Appends the records and syncs once. */
  async write(records: readonly DeadLetter[]): Promise<void> {
    if (records.length === 0) return;
    const f = await this.file();
    let text = '';
    for (const r of records) text += `${JSON.stringify(r)}\n`;
    await f.write(text);
    await f.sync();
    this.count += records.length;
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
    this.opening = null;
  }
}
