import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FileSource } from '../../src/sources/file.js';
import type { LineBatch } from '../../src/sources/types.js';

async function collect(source: FileSource): Promise<LineBatch[]> {
  const out: LineBatch[] = [];
  for await (const b of source.batches(new AbortController().signal)) out.push(b);
  return out;
}

describe('FileSource', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ingest-file-'));
  const lines = Array.from({ length: 2500 }, (_, i) => `line ${i + 1}`);

  it('reads a plain file in batches whose positions are line numbers', async () => {
    const path = join(dir, 'a.log');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const batches = await collect(new FileSource({ path, batchSize: 1000 }));
    expect(batches.map((b) => b.lines.length)).toEqual([1000, 1000, 500]);
    expect(batches[2]?.position(0)).toBe('2001');
    expect(batches[2]?.lines[0]).toBe('line 2001');
    expect(batches[0]?.source).toBe(`file:${path}`);
  });

  it('decompresses a .gz file while streaming', async () => {
    const path = join(dir, 'a.log.gz');
    writeFileSync(path, gzipSync(`${lines.join('\r\n')}\r\n`));
    const batches = await collect(new FileSource({ path, batchSize: 1000 }));
    expect(batches.flatMap((b) => b.lines)).toEqual(lines);
  });

  it('reads a file of several read chunks with UTF-8 characters across their boundaries, ASCII and not', async () => {
    const path = join(dir, 'big.log');
    // ~2.6 MB: 1 MiB reads split lines and (odd offsets) two-byte characters; one chunk is all ASCII.
    const big = Array.from({ length: 30_000 }, (_, i) =>
      i > 12_000 && i < 24_000 ? `ascii line ${i} ${'x'.repeat(70)}` : `line ${i} ${'é'.repeat(i % 50)}ü`,
    );
    writeFileSync(path, `${big.join('\n')}\n`);
    const batches = await collect(new FileSource({ path, batchSize: 4096 }));
    expect(batches.flatMap((b) => b.lines)).toEqual(big);
    expect(batches.at(-1)?.position(0)).toBe(String(7 * 4096 + 1));
  });

  it('names the file when it cannot be read', async () => {
    await expect(collect(new FileSource({ path: join(dir, 'missing.log') }))).rejects.toThrow(
      /missing\.log: ENOENT/,
    );
  });
});
