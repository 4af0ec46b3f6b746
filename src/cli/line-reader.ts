/**
 * Reads a file (plain or gzip, by magic bytes) or stdin (`-`) as batches of lines with their line
 * numbers. Used by `replay` until a shared file source exists.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { SentinelError } from '../errors.js';

export interface LineChunk {
  lines: string[];
  /** Line number of lines[0] (1-based). */
  firstLine: number;
}

function isGzip(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(2);
    const n = readSync(fd, buf, 0, 2, 0);
    return n === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

export async function* readLineChunks(path: string, chunkLines = 4096): AsyncGenerator<LineChunk> {
  let input: Readable;
  if (path === '-') input = process.stdin;
  else {
    try {
      const gz = isGzip(path);
      input = createReadStream(path);
      if (gz) input = input.pipe(createGunzip());
    } catch (err) {
      throw new SentinelError(
        'ESN_INPUT',
        `Cannot read input ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`,
        { where: path },
      );
    }
  }
  let lineNo = 0;
  let chunk: string[] = [];
  let first = 1;
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let failure: Error | null = null;
  input.on('error', (err: Error) => {
    failure = err;
    rl.close();
  });
  try {
    for await (const line of rl) {
      lineNo++;
      chunk.push(line);
      if (chunk.length >= chunkLines) {
        yield { lines: chunk, firstLine: first };
        chunk = [];
        first = lineNo + 1;
      }
    }
  } catch (err) {
    throw new SentinelError(
      'ESN_INPUT',
      `Cannot read input ${path} after line ${lineNo}: ${(err as Error).message}.`,
      { where: `${path}:${lineNo + 1}` },
    );
  }
  if (failure !== null) {
    throw new SentinelError(
      'ESN_INPUT',
      `Cannot read input ${path} after line ${lineNo}: ${(failure as Error).message}.`,
      { where: `${path}:${lineNo + 1}` },
    );
  }
  if (chunk.length > 0) yield { lines: chunk, firstLine: first };
}
