import { describe, expect, it } from 'vitest';
import { newEgressEvent } from '../../src/identity/event.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { type PartitionDetection, PartitionTask } from '../../src/scale/partition-task.js';

/** Counts events per identity and releases them at once (watermark = max time seen - lateness). */
class CountingAnalyzer implements PartitionDetection {
  counts = new Map<string, number>();
  private max = Number.NEGATIVE_INFINITY;
  startTime: number | null = null;
  constructor(private readonly lateness: number) {}
  observeMerged(e: EgressEvent): void {
    this.counts.set(e.source.key, (this.counts.get(e.source.key) ?? 0) + 1);
    if (e.time > this.max) this.max = e.time;
    this.startTime ??= e.time;
  }
  watermark(): number {
    return this.max - this.lateness;
  }
  exportState(ids: Iterable<string>): Map<string, Buffer | null> {
    return new Map([...ids].map((id) => [id, Buffer.from(String(this.counts.get(id) ?? 0))]));
  }
  importState(id: string, state: Uint8Array): void {
    this.counts.set(id, Number(Buffer.from(state).toString()));
  }
  deleteState(id: string): void {
    this.counts.delete(id);
  }
  exportGlobal(): Record<string, unknown> {
    return { startTime: this.startTime };
  }
  importGlobal(data: Record<string, unknown>): void {
    this.startTime = data.startTime as number;
  }
}

function event(key: string, time: number): EgressEvent {
  const e = newEgressEvent();
  e.source.key = key;
  e.time = time;
  return e;
}

describe('partition task', () => {
  it('commits only what the detectors have seen, and a restored replay counts no event twice', () => {
    const a = new PartitionTask(0, new CountingAnalyzer(5_000), null);
    // Offsets 0..9, one second apart.
    for (let i = 0; i < 10; i++) a.observe(event(i % 2 === 0 ? 'ns/a' : 'ns/b', 1_000 * i), BigInt(i));
    a.endBatch(9n);
    // Watermark 4s: the batch's newest event (9s) is not analysed yet, so nothing is committable.
    expect(a.committable()).toBeNull();
    const { changes, meta } = a.checkpoint();
    expect(JSON.parse(meta)).toMatchObject({ seenUpTo: '10', watermark: 4_000 });

    // A crash: the new owner restores the checkpoint and replays from the committed offset (0).
    const analyzer = new CountingAnalyzer(5_000);
    const b = new PartitionTask(0, analyzer, null);
    b.restore(new Map([...changes].map(([k, v]) => [k, v as Buffer])), meta);
    for (let i = 0; i < 10; i++) b.observe(event(i % 2 === 0 ? 'ns/a' : 'ns/b', 1_000 * i), BigInt(i));
    // Events at or before 4s were in the checkpoint: skipped. The 5 later ones are counted once more.
    expect(b.replayedSkipped).toBe(5);
    expect((analyzer.counts.get('ns/a') ?? 0) + (analyzer.counts.get('ns/b') ?? 0)).toBe(10 + 5);
    expect(analyzer.startTime).toBe(0);
  });

  it('releases commits in order once the watermark passes each batch', () => {
    const t = new PartitionTask(3, new CountingAnalyzer(1_000), null);
    t.observe(event('x', 1_000), 0n);
    t.endBatch(0n);
    t.observe(event('x', 1_500), 1n);
    t.endBatch(1n);
    expect(t.committable()).toBeNull();
    t.observe(event('x', 2_600), 2n);
    t.endBatch(2n);
    expect(t.committable()).toBe(2n);
    t.observe(event('x', 9_000), 3n);
    t.endBatch(3n);
    expect(t.committable()).toBe(3n);
  });

  it('commits most of one large batch once the watermark passes its earlier events', () => {
    const t = new PartitionTask(1, new CountingAnalyzer(5_000), null);
    // A whole backlog in one fetch: 1,000 events one second apart.
    for (let i = 0; i < 1_000; i++) t.observe(event('x', 1_000 * i), BigInt(i));
    t.endBatch(999n);
    const offset = t.committable();
    // Watermark 994 s: every commit point whose events are all at or before it is committable,
    // but not the tail the detectors still hold back.
    expect(offset).not.toBeNull();
    expect(Number(offset)).toBeGreaterThan(800);
    expect(Number(offset)).toBeLessThanOrEqual(995);
  });

  it('reads a record once when a partition it keeps across a rebalance is fetched again from the committed offset', () => {
    const analyzer = new CountingAnalyzer(5_000);
    const t = new PartitionTask(2, analyzer, null);
    const read = (from: number, to: number): void => {
      for (let i = from; i <= to; i++) {
        if (!t.unread(BigInt(i))) continue;
        t.observe(event('ns/a', 1_000 * i), BigInt(i));
      }
      t.endBatch(BigInt(to));
    };
    read(0, 9);
    read(10, 19);
    // Watermark 14 s: the first batch is committable; the second is read but not committed.
    const committed = t.committable();
    expect(committed).toBe(10n);
    // A rebalance leaves the partition here: kafkajs fetches it again from the committed offset,
    // and then the batch after it.
    read(Number(committed), 19);
    expect(t.rereadSkipped).toBe(10);
    expect(t.committable()).toBeNull(); // nothing new: the committed offset does not go back
    read(20, 29);
    expect(analyzer.counts.get('ns/a')).toBe(30);
    expect(t.committable()).toBe(20n);
  });
});
