import { type Message, Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { BySourceRecords } from '../../src/scale/by-source-records.js';
import { decodeEventRecord } from '../../src/scale/event-codec.js';

/** Stand-in encoded events: JSON arrays naming their identity and sequence number. */
function message(key: string, seq: number, pad = 0): Message {
  return { key, value: JSON.stringify([key, seq, 'x'.repeat(pad)]) };
}

describe('by-source records', () => {
  it('puts each identity on the partition Kafka’s default partitioner gives its key, in order', () => {
    const records = new BySourceRecords('t', 6);
    const keys = Array.from({ length: 40 }, (_, i) => `ns${i % 7}/workload-${i}`);
    const messages = Array.from({ length: 400 }, (_, i) => message(keys[i % keys.length] as string, i));
    const out = records.records(messages);
    expect(out.length).toBeLessThanOrEqual(6);
    const partitioner = Partitioners.DefaultPartitioner();
    const metadata = Array.from({ length: 6 }, (_, partitionId) => ({
      partitionId,
      leader: 0,
    })) as PartitionMetadata[];
    const seen: unknown[] = [];
    for (const record of out) {
      const rows = decodeEventRecord(record.value as string) as [string, number][];
      for (const [key] of rows)
        expect(record.partition).toBe(
          partitioner({ topic: 't', partitionMetadata: metadata, message: { key, value: null } }),
        );
      // Within a partition the events keep the order they were decoded in.
      const seqs = rows.map(([, seq]) => seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      seen.push(...rows);
    }
    expect(seen).toHaveLength(400);
  });

  it('splits a partition’s events over several records when they would exceed 256 KB', () => {
    const records = new BySourceRecords('t', 1);
    const out = records.records(Array.from({ length: 100 }, (_, i) => message('ns/w', i, 10_000)));
    expect(out.length).toBe(4);
    for (const record of out) expect((record.value as string).length).toBeLessThanOrEqual(256 * 1024 + 100);
    const seqs = out.flatMap((r) =>
      (decodeEventRecord(r.value as string) as [string, number][]).map(([, s]) => s),
    );
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
