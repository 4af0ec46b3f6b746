/**
 * The detector state of one partition of the by-source topic, and the bookkeeping that makes its
 * changelog checkpoints consistent with committed offsets.
 *
 * The detectors hold events back for lateness, and flow minutes stay open until the watermark
 * passes them, so the offset that may be committed lags the offset read. A checkpoint therefore
 * records, besides the state, `seenUpTo` (next offset after the last event observed) and the
 * watermark W: the restored state already contains every event read before `seenUpTo` whose time
 * is at most W (the engine released them), and none of the others. After a crash the new owner
 * replays from the committed offset; replayed events that are in the state skip detection (no
 * double counting in baselines) but still feed the flow minutes, which are rebuilt from the replay.
 */
import type { EgressEvent } from '../identity/types.js';
import type { Detection } from '../pipeline/detection.js';
import type { ChangelogImporter } from './changelog-import.js';

/** What the partition needs from its Detection stage (tests drive it with synthetic ones). */
export type PartitionDetection = Pick<
  Detection,
  | 'observeMerged'
  | 'watermark'
  | 'exportState'
  | 'importState'
  | 'deleteState'
  | 'exportGlobal'
  | 'importGlobal'
>;

/** Flow minutes per partition (FlowAggregator). */
export interface PartitionFlows {
  observe(event: EgressEvent): void;
  /** Start of the oldest minute not yet written, or +Infinity. */
  openSince(): number;
}

export interface CheckpointMeta {
  v: 1;
  seenUpTo: string;
  watermark: number;
  global: Record<string, unknown>;
}

interface HeldBatch {
  /** Offset to commit once this batch is fully analysed and its minutes written. */
  nextOffset: bigint;
  maxTime: number;
  lastMinute: number;
}

const MINUTE = 60_000;
/** Events between commit points within one batch. */
const SEGMENT = 128;

export class PartitionTask implements ChangelogImporter {
  private readonly dirty = new Set<string>();
  private readonly held: HeldBatch[] = [];
  private seenUpTo = -1n;
  /** Next record offset this task has not read (see `unread`). */
  private readUpTo = -1n;
  /** From the restored checkpoint: replayed events before it that the state already holds. */
  private replayUpTo = -1n;
  private replayWatermark = Number.NEGATIVE_INFINITY;
  /** Batch in progress. */
  private batchMax = Number.NEGATIVE_INFINITY;
  private inSegment = 0;
  replayedSkipped = 0;
  /** Records fetched again that this task had already read (see `unread`). */
  rereadSkipped = 0;

  constructor(
    readonly partition: number,
    readonly detection: PartitionDetection,
    readonly flows: PartitionFlows | null,
  ) {}

  /** Imports a restored changelog partition's latest state (tests; a restore streams `put`s). */
  restore(entries: ReadonlyMap<string, Buffer>, meta: string | null): number {
    for (const [id, state] of entries) this.put(id, state);
    if (meta !== null) this.meta(meta);
    return entries.size;
  }

  // ChangelogImporter: records of the partition's changelog in offset order (the latest wins).
  put(id: string, state: Buffer, owned = false): void {
    this.detection.importState(id, state, owned);
  }

  delete(id: string): void {
    this.detection.deleteState(id);
  }

  meta(text: string): void {
    const m = JSON.parse(text) as CheckpointMeta;
    if (m.v !== 1) throw new Error(`unsupported checkpoint meta version ${String(m.v)}`);
    this.replayUpTo = BigInt(m.seenUpTo);
    this.replayWatermark = m.watermark;
    this.detection.importGlobal(m.global);
  }

  /**
   * Whether the record at `offset` is new to this task; call once per record before observing its
   * events. A partition kept across a rebalance is fetched again from its committed offset (kafkajs
   * resolves offsets afresh on every assignment), which lags what the task read by the lateness and
   * the open flow minute; and a batch abandoned mid-way (rebalance) is fetched again whole. Reading
   * those records again would count their events twice: a sidecar leg and its gateway leg then pair
   * across copies and leave a copy of the gateway leg "unaccounted".
   */
  unread(offset: bigint): boolean {
    if (offset < this.readUpTo) {
      this.rereadSkipped++;
      return false;
    }
    this.readUpTo = offset + 1n;
    return true;
  }

  /** One event read at `offset` (events of a partition arrive in offset order). */
  observe(event: EgressEvent, offset: bigint): void {
    // A fetched batch can hold a partition's whole backlog; commit points every SEGMENT events
    // within it let the committed offset follow the watermark instead of waiting for the next batch.
    if (++this.inSegment > SEGMENT && Number.isFinite(this.batchMax)) this.hold(offset);
    if (event.time > this.batchMax) this.batchMax = event.time;
    this.flows?.observe(event);
    if (offset < this.replayUpTo && event.time <= this.replayWatermark) {
      this.replayedSkipped++;
      return;
    }
    this.dirty.add(event.source.key);
    this.detection.observeMerged(event);
  }

  /** Closes a batch whose last offset was `lastOffset` (after the Detection stage advanced). */
  endBatch(lastOffset: bigint): void {
    const next = lastOffset + 1n;
    // A batch of records read before (fetched again) holds nothing new: committing its end would
    // move the committed offset back.
    if (next > this.seenUpTo) {
      this.seenUpTo = next;
      this.hold(next);
    }
    this.batchMax = Number.NEGATIVE_INFINITY;
    this.inSegment = 0;
  }

  /** Everything before `nextOffset` may be committed once analysed up to the running max time. */
  private hold(nextOffset: bigint): void {
    const max = this.batchMax;
    this.held.push({
      nextOffset,
      maxTime: max,
      lastMinute: Number.isFinite(max) ? max - (max % MINUTE) : Number.NEGATIVE_INFINITY,
    });
    this.inSegment = 0;
  }

  /**
   * The offset that may be committed now (every earlier event analysed, its minutes written), or
   * null when nothing new is committable. Call after the batch's output was delivered.
   */
  committable(): bigint | null {
    const watermark = this.detection.watermark();
    const openSince = this.flows?.openSince() ?? Number.POSITIVE_INFINITY;
    let offset: bigint | null = null;
    while (this.held.length > 0) {
      const h = this.held[0] as HeldBatch;
      // A replayed batch the restored state already holds is analysed even before the fresh
      // engine's watermark catches up.
      const analysed =
        h.maxTime <= watermark || (h.nextOffset <= this.replayUpTo && h.maxTime <= this.replayWatermark);
      if (!analysed || h.lastMinute >= openSince) break;
      offset = h.nextOffset;
      this.held.shift();
    }
    return offset;
  }

  /** The changed identities' state and the meta record; clears the dirty set. */
  checkpoint(): { changes: Map<string, Buffer | null>; meta: string } {
    const changes = this.detection.exportState(this.dirty);
    this.dirty.clear();
    const meta: CheckpointMeta = {
      v: 1,
      seenUpTo: this.seenUpTo.toString(),
      watermark: Math.max(this.detection.watermark(), this.replayWatermark),
      global: this.detection.exportGlobal(),
    };
    return { changes, meta: JSON.stringify(meta) };
  }

  get dirtyCount(): number {
    return this.dirty.size;
  }
}
