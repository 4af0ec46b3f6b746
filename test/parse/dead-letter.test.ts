import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deadLetter, JsonLinesDeadLetterWriter } from '../../src/parse/dead-letter.js';

describe('dead letters', () => {
  it('keeps valid UTF-8 as text and invalid bytes as base64', () => {
    expect(deadLetter('r', 'kafka:t', '0/1', 'héllo').raw).toBe('héllo');
    const bad = Buffer.from([0x5b, 0xff, 0xfe, 0x5d]);
    const l = deadLetter('r', 'kafka:t', '0/1', bad);
    expect(l.rawEncoding).toBe('base64');
    expect(Buffer.from(l.raw, 'base64')).toEqual(bad);
  });

  it('appends one JSON object per line to a file', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'dl-')), 'dead.jsonl');
    const w = new JsonLinesDeadLetterWriter(path);
    w.write(
      deadLetter('TEXT access line: expected 22 fields', 'file:/x.log', '7', '[2024-01-01T00:00:00Z] "GET'),
    );
    w.write(deadLetter('not valid JSON', 'file:/x.log', '8', '{"a":'));
    await w.close();
    const rows = readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => [r.reason, r.position])).toEqual([
      ['TEXT access line: expected 22 fields', '7'],
      ['not valid JSON', '8'],
    ]);
  });
});
