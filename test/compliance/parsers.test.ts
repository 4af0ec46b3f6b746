/**
 * Every registered parser honours the parser contract: its spec names its format, it reads the real
 * lines its spec cites (alone and through the decoder in auto mode), and it never throws on
 * hostile input.
 */
import { describe, expect, it } from 'vitest';
import { LineDecoder } from '../../src/parse/decoder.js';
import type { DecodeSink } from '../../src/parse/decoder-types.js';
import { PARSERS } from '../../src/parse/registry.js';
import { newAccessRecord } from '../../src/parse/types.js';

const HOSTILE = [
  '',
  ' ',
  '[',
  '{',
  '{}',
  '[]',
  'x'.repeat(100_000),
  '"'.repeat(5000),
  '\u0000\uffff',
  '[2024-',
];

it('parser names are unique kebab-case', () => {
  const names = PARSERS.map((p) => p.name);
  expect(new Set(names).size).toBe(names.length);
  for (const n of names) expect(n).toMatch(/^[a-z]+(-[a-z]+)*$/);
});

describe.each(PARSERS.map((p) => [p.name, p] as const))('parser %s', (name, spec) => {
  it('creates a parser of its own format, with a summary and cited examples', () => {
    expect(spec.create().format).toBe(name);
    expect(spec.summary.trim()).not.toBe('');
    for (const e of spec.examples) expect(e.source.trim()).not.toBe('');
  });

  it.each(
    spec.examples.map((e) => [e.source, e.line] as const),
  )('reads its example from %s', (_source, line) => {
    const parser = spec.create();
    expect(parser.accepts(line)).toBe(true);
    const record = newAccessRecord();
    const out = parser.parse(line, record);
    expect(out).toEqual({ kind: 'access' });
    expect(Number.isFinite(record.startTime)).toBe(true);
  });

  it('the decoder routes its examples to it in auto mode', () => {
    const decoder = new LineDecoder({ format: 'auto' });
    for (const e of spec.examples) {
      const seen: string[] = [];
      const sink: DecodeSink = {
        access: () => seen.push('access'),
        skipped: (r) => seen.push(`skipped: ${r}`),
        malformed: (r) => seen.push(`malformed: ${r}`),
      };
      decoder.decode(e.line, sink);
      expect(seen).toEqual(['access']);
    }
  });

  it('never throws on hostile input', () => {
    const parser = spec.create();
    for (const line of HOSTILE) {
      const out = parser.parse(line, newAccessRecord());
      expect(['access', 'skip', 'malformed']).toContain(out.kind);
    }
  });
});
