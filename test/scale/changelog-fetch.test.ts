/**
 * The restore's direct reader parses record batches as the broker sends them (encoded here by
 * kafkajs' own producer-side encoder) and packs the same bytes the kafkajs path packs.
 */
import { createRequire } from 'node:module';
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  DirectFetchUnsupported,
  packRecordRefs,
  RecordRefs,
  scanRecordBatches,
} from '../../src/scale/changelog-fetch.js';
import { packRecords } from '../../src/scale/changelog-packed.js';
import { META_KEY } from '../../src/scale/changelog-writer.js';

const require = createRequire(import.meta.url);
type Encoded = { buffer: Buffer };
const { RecordBatch: encodeBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (options: {
    compression?: number;
    firstOffset?: unknown;
    lastOffsetDelta?: number;
    records: Encoded[];
  }) => Promise<Encoded>;
};
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (options: {
  offsetDelta: number;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, string>;
}) => Encoded;
const Long = require('kafkajs/src/utils/long.js') as { fromNumber(n: number): unknown };

interface Rec {
  offset: number;
  key: string;
  value: Buffer | null;
}

async function batch(records: Rec[], compression = 0): Promise<Buffer> {
  const base = records[0]?.offset ?? 0;
  const encoded = await encodeBatch({
    compression,
    firstOffset: Long.fromNumber(base),
    lastOffsetDelta: (records.at(-1)?.offset ?? base) - base,
    records: records.map((r) =>
      encodeRecord({
        offsetDelta: r.offset - base,
        key: Buffer.from(r.key, 'utf8'),
        value: r.value,
        headers: { h: 'x' },
      }),
    ),
  });
  return encoded.buffer;
}

const value = (n: number, length: number) => Buffer.alloc(length, n);
const meta = Buffer.from('{"v":1,"seenUpTo":"7","watermark":0,"global":{}}');

// Offsets with gaps, as compaction leaves them; values of odd lengths so alignment padding varies.
const first: Rec[] = [
  { offset: 3, key: 'ns/a', value: value(1, 101) },
  { offset: 4, key: 'ns/b', value: value(2, 2403) },
  { offset: 6, key: 'ns/a', value: null },
];
const second: Rec[] = [
  { offset: 9, key: 'ns/c', value: value(3, 7) },
  { offset: 10, key: META_KEY, value: meta },
];

function asMessages(records: Rec[]): KafkaMessage[] {
  return records.map(
    (r) =>
      ({
        key: Buffer.from(r.key, 'utf8'),
        value: r.value,
        offset: String(r.offset),
        timestamp: '0',
        attributes: 0,
        headers: {},
      }) as KafkaMessage,
  );
}

describe('scanRecordBatches and packRecordRefs', () => {
  it('pack the records of real record batches into the same bytes as packRecords packs kafkajs messages', async () => {
    const b = Buffer.concat([await batch(first), await batch(second)]);
    const refs = new RecordRefs();
    const next = scanRecordBatches(b, 0, b.length, 0, 100, refs);
    expect(next).toBe(11);
    expect(refs.count).toBe(5);
    const direct = packRecordRefs(b, refs, Buffer.from(META_KEY, 'utf8'));
    const viaKafkajs = packRecords(asMessages([...first, ...second]), 100n).buffer;
    expect(direct.equals(viaKafkajs)).toBe(true);
  });

  it('keep only offsets from the fetch offset up to the end of the restore', async () => {
    const b = Buffer.concat([await batch(first), await batch(second)]);
    const refs = new RecordRefs();
    // From 4 (the batch holding 3 is sent whole) up to 10 (the meta record is past the end).
    expect(scanRecordBatches(b, 0, b.length, 4, 10, refs)).toBe(11);
    const packed = packRecordRefs(b, refs, Buffer.from(META_KEY, 'utf8'));
    const expected = packRecords(asMessages([...first.slice(1), ...second.slice(0, 1)]), 100n).buffer;
    expect(packed.equals(expected)).toBe(true);
  });

  it('leave a batch cut off by the fetch size for the next fetch', async () => {
    const one = await batch(first);
    const b = Buffer.concat([one, await batch(second)]);
    const refs = new RecordRefs();
    expect(scanRecordBatches(b, 0, b.length - 5, 0, 100, refs)).toBe(7);
    expect(refs.count).toBe(3);
    // Nothing complete at all: the fetch offset stays.
    refs.count = 0;
    expect(scanRecordBatches(b, one.length, b.length - 1, 7, 100, refs)).toBe(7);
    expect(refs.count).toBe(0);
  });

  it('refuse a compressed batch as unsupported (the worker then reads with kafkajs)', async () => {
    const b = await batch(first, 1); // gzip
    expect(() => scanRecordBatches(b, 0, b.length, 0, 100, new RecordRefs())).toThrow(DirectFetchUnsupported);
  });

  it('fail on a record that overruns its batch instead of reading past it', async () => {
    const b = await batch(second.slice(0, 1));
    // The record's length varint (right after the 61-byte batch header) made larger than the batch.
    b[61] = 0x7e;
    expect(() => scanRecordBatches(b, 0, b.length, 0, 100, new RecordRefs())).toThrow(/overruns/);
  });
});
