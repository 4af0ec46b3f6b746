import { type Message, Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  BySourceRecords,
  MARK_INTERVAL_MS,
  progressHeader,
  readProgress,
  type StreamProgress,
  unreadMark,
} from '../../src/scale/by-source-records.js';
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

  describe('progress marks', () => {
    const at = (time: number, caughtUp = false): StreamProgress => ({
      stream: 'kafka:mesh-logs/3',
      time,
      caughtUp,
    });
    /** Partitions that got a record, and what each record's mark says. */
    const marks = (out: Message[]): Map<number, StreamProgress | null> =>
      new Map(out.map((m) => [m.partition as number, readProgress(m.headers)]));

    it('go on every record and, as an empty record, to every partition the batch had no events for', () => {
      const records = new BySourceRecords('t', 4);
      const key = 'ns-a';
      const p = records.partitionOf(key);
      const out = records.records([message(key, 1)], at(1_000), 10_000);
      expect([...marks(out).keys()].sort()).toEqual([0, 1, 2, 3]);
      for (const mark of marks(out).values()) expect(mark).toEqual(at(1_000));
      const empty = out.filter((m) => m.partition !== p);
      for (const m of empty) expect(decodeEventRecord(m.value as string)).toEqual([]);
      expect(decodeEventRecord(out.find((m) => m.partition === p)?.value as string)).toHaveLength(1);
    });

    it('are sent to an event-less partition every interval while behind, and once when it caught up', () => {
      const records = new BySourceRecords('t', 4);
      const key = 'ns-a';
      const p = records.partitionOf(key);
      records.records([message(key, 1)], at(1_000), 10_000);
      // Within the interval only the partition with events hears of the stream.
      const soon = records.records([message(key, 2)], at(2_000), 10_000 + MARK_INTERVAL_MS - 1);
      expect([...marks(soon).keys()]).toEqual([p]);
      const next = records.records([message(key, 3)], at(3_000), 10_000 + MARK_INTERVAL_MS);
      expect(next).toHaveLength(4);
      // The stream caught up: every partition must learn it holds nothing back any more ...
      const caughtUp = records.records([], at(3_000, true), 10_000 + MARK_INTERVAL_MS + 1);
      expect(caughtUp).toHaveLength(4);
      for (const mark of marks(caughtUp).values()) expect(mark?.caughtUp).toBe(true);
      // ... and while it stays caught up (live traffic) the others get no more empty records.
      const live = records.records([message(key, 4)], at(4_000, true), 10_000 + 10 * MARK_INTERVAL_MS);
      expect([...marks(live).keys()]).toEqual([p]);
      // Behind again: all are told at once.
      expect(records.records([message(key, 5)], at(5_000), 10_000 + 10 * MARK_INTERVAL_MS)).toHaveLength(4);
    });

    it("tell every partition a caught-up stream's read position, at most every interval, once its batch is on the broker", () => {
      const records = new BySourceRecords('t', 4);
      const key = 'ns-a';
      const p = records.partitionOf(key);
      const live = (readTo: number, time: number): StreamProgress => ({ ...at(time, true), readTo });
      const first = records.records([message(key, 1)], live(10, 1_000), 10_000);
      expect(first).toHaveLength(4);
      for (const mark of marks(first).values()) expect(mark).toEqual(live(10, 1_000));
      // Within the interval only the partition with events hears of the new position ...
      const soon = records.records([message(key, 2)], live(11, 2_000), 10_000 + 1);
      expect([...marks(soon).keys()]).toEqual([p]);
      // ... and `due` does not tell it before that batch is on the broker, nor within the interval.
      expect(records.due(10_000 + MARK_INTERVAL_MS)).toEqual([]);
      records.delivered(live(11, 2_000));
      expect(records.due(10_000 + MARK_INTERVAL_MS - 1)).toEqual([]);
      const told = records.due(10_000 + MARK_INTERVAL_MS);
      expect([...marks(told).keys()].sort()).toEqual([0, 1, 2, 3].filter((q) => q !== p));
      for (const mark of marks(told).values()) expect(mark).toEqual(live(11, 2_000));
      // Told once: nothing more until the position moves.
      expect(records.due(10_000 + 10 * MARK_INTERVAL_MS)).toEqual([]);
    });

    it('read back what was written, and nothing from headers this version did not write', () => {
      const mark = { stream: 'kafka:a|b/0', time: 1_741_000_000_123, caughtUp: true };
      expect(readProgress({ progress: Buffer.from(progressHeader(mark)) })).toEqual(mark);
      expect(readProgress({ progress: progressHeader(unreadMark('kafka:in/2')) })).toEqual(
        unreadMark('kafka:in/2'),
      );
      expect(readProgress(undefined)).toBeNull();
      expect(readProgress({ progress: 'Infinity|1|s' })).toBeNull();
      expect(readProgress({ progress: 'x|1|s' })).toBeNull();
      expect(readProgress({ progress: '12|2|s' })).toBeNull();
      expect(readProgress({ progress: '12|1|' })).toBeNull();
      expect(readProgress({ other: '12|1|s' })).toBeNull();
      // The read position, when the writer knew it; a malformed one is left out.
      expect(readProgress({ progress: '12|1|s', 'read-to': '77' })).toEqual({
        stream: 's',
        time: 12,
        caughtUp: true,
        readTo: 77,
      });
      expect(readProgress({ progress: '12|1|s', 'read-to': 'x' })).toEqual({
        stream: 's',
        time: 12,
        caughtUp: true,
      });
    });
  });
});
