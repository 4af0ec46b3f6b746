import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { StdinSource } from '../../src/sources/stdin.js';
import type { LineBatch } from '../../src/sources/types.js';

const realStdin = Object.getOwnPropertyDescriptor(process, 'stdin') as PropertyDescriptor;

/** Pipes `stream` in as process.stdin, as `zcat x.gz | egress-sentinel run --source stdin` would. */
function pipeIn(stream: PassThrough): void {
  Object.defineProperty(process, 'stdin', { configurable: true, enumerable: true, get: () => stream });
}

afterEach(() => {
  Object.defineProperty(process, 'stdin', realStdin);
});

describe('StdinSource', () => {
  it('reads piped lines in batches whose positions are 1-based line numbers, across chunk boundaries', async () => {
    const input = new PassThrough();
    pipeIn(input);
    const lines = Array.from({ length: 2500 }, (_, i) => `[2024-01-09T15:35:47.283Z] line ${i + 1}`);
    const text = `${lines.join('\r\n')}\r\n`;
    // Chunks that split lines (and a CRLF) in the middle.
    setImmediate(() => {
      for (let i = 0; i < text.length; i += 997) input.write(text.slice(i, i + 997));
      input.end();
    });
    const batches: LineBatch[] = [];
    for await (const b of new StdinSource({ batchSize: 1000 }).batches(new AbortController().signal))
      batches.push(b);
    expect(batches.map((b) => b.lines.length)).toEqual([1000, 1000, 500]);
    expect(batches.flatMap((b) => b.lines)).toEqual(lines);
    expect(batches[1]?.source).toBe('stdin');
    expect(batches[1]?.position(0)).toBe('1001');
    expect(batches[2]?.position(499)).toBe('2500');
    await expect(batches[0]?.ack()).resolves.toBeUndefined();
  });

  it('yields the lines read so far and stops when the run is aborted while stdin stays open', async () => {
    const input = new PassThrough();
    pipeIn(input);
    const abort = new AbortController();
    input.write('first\nsecond\n');
    const got: string[] = [];
    const reading = (async () => {
      for await (const b of new StdinSource({ batchSize: 1000 }).batches(abort.signal)) got.push(...b.lines);
    })();
    await new Promise((r) => setTimeout(r, 50));
    abort.abort();
    await reading;
    expect(got).toEqual(['first', 'second']);
    expect(input.writableEnded).toBe(false);
  });

  it('keeps UTF-8 characters whole when a chunk ends inside one, and reads a last line without a newline', async () => {
    const input = new PassThrough();
    pipeIn(input);
    const lines = ['{"path":"/café/ü"}', 'plain ascii', '[…] "GET /日本 HTTP/1.1"', '', 'last é'];
    const bytes = Buffer.from(lines.join('\n'), 'utf8');
    // One byte at a time: every multi-byte character is split across chunks.
    setImmediate(() => {
      for (let i = 0; i < bytes.length; i++) input.write(bytes.subarray(i, i + 1));
      input.end();
    });
    const got: string[] = [];
    for await (const b of new StdinSource({ batchSize: 2 }).batches(new AbortController().signal))
      got.push(...b.lines);
    expect(got).toEqual(lines);
  });

  it('pauses stdin on close', async () => {
    const input = new PassThrough();
    pipeIn(input);
    input.resume();
    await new StdinSource().close();
    expect(input.isPaused()).toBe(true);
  });
});
