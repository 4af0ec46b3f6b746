/**
 * Event time per input partition, as Kafka Streams and Flink keep it. Each input stream (a Kafka
 * input partition, `kafka:topic/partition`) has its own watermark: the newest event time it
 * delivered. The pipeline's watermark is the slowest active stream's (minus the allowed lateness,
 * applied by the engine), so a partition that is behind while a backlog drains holds the others'
 * events in the engine's buffer instead of letting them run ahead and make its events "late".
 *
 * A stream stops holding the watermark back
 * - while it is caught up: its last batch ended at the partition's end (live traffic; a quiet
 *   partition must not hold every alert back), until it delivers again, and as long as nothing was
 *   written to the partition past where its reader stood (`readTo`, from stage 1's marks, against the
 *   partition's end offset, `ends`: Kafka Streams' "caught up" is position = end offset too). When
 *   its end moves past the reader and no mark follows, its reader may be gone (a crashed stage-1
 *   instance whose partitions the group has not handed on yet): it holds again at its newest time,
 *   from then on for at most the idle timeout, so the lines its next reader reads are not late;
 * - once it was idle (neither caught up nor heard from) for `idleTimeoutMs` of wall time, as
 *   Flink's `withIdleness` and Kafka Streams' `max.task.idle.ms`: its reader left or a fetch
 *   starves it. Its events, if they come, are then behind the watermark (late).
 * One mechanism for the plain `run` (marks once per input batch, `pipeline/loop.ts`) and the
 * scaled run's by-source partitions (events and progress marks from stage 1, `pipeline/detection.ts` `observeMerged`).
 */
import { z } from 'zod';

export interface InputStream {
  /** Newest event time it delivered (events or marks); -Infinity: assigned, nothing read yet. */
  max: number;
  /** Wall time of the batch end at which it was last heard from. */
  heardAt: number;
  /** Heard from in the batch in progress. */
  delivered: boolean;
  /** Its last batch (or mark) ended at its partition's end: it holds nothing back until it sends again. */
  caughtUp: boolean;
  /** Newest input offset observed (scaled run's duplicate check), -1 before any. */
  offset: number;
  /** Next input offset its reader will read, from the latest mark; -1: not told. */
  readTo: number;
  /** The partition's end offset as last looked up (`ends`); -1: not known. */
  end: number;
  /** Wall time at which it was first seen caught up with lines written past its reader; NaN: not. */
  stalledAt: number;
}

export interface InputWatermarkOptions {
  /** A stream neither caught up nor heard from for this long (wall time) no longer holds the watermark. */
  idleTimeoutMs: number;
  /** Wall clock (tests). */
  clock: () => number;
}

/** When nothing says otherwise: kafkajs' default session timeout (30 s) plus 10 s. */
export const DEFAULT_IDLE_TIMEOUT_MS = 40_000;

/** `export()`: [input stream, newest event time or null, caught up, next offset its reader reads (-1: not told)]. */
export const StreamCheckpointSchema = z.array(
  z.union([
    z.tuple([z.string(), z.number().nullable(), z.boolean(), z.number()]),
    // Checkpoints written before the read position was kept.
    z.tuple([z.string(), z.number().nullable(), z.boolean()]),
  ]),
);
export type StreamCheckpoint = z.infer<typeof StreamCheckpointSchema>;

export class InputWatermarks {
  private readonly streams = new Map<string, InputStream>();
  private readonly options: InputWatermarkOptions;
  private now: number;
  /** Streams that held the watermark back at the last `slowest()` (a metric). */
  holding = 0;
  /** Streams excluded at the last `slowest()` because they were idle too long. */
  idle = 0;
  /** What the last `slowest()` returned (the plain run pauses a stream ahead of it, pipeline/loop.ts). */
  lastSlowest = Number.POSITIVE_INFINITY;

  constructor(options: Partial<InputWatermarkOptions> = {}) {
    this.options = { idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS, clock: Date.now, ...options };
    this.now = this.options.clock();
  }

  /** The stream's state, created (holding at `time`) on first sight. */
  stream(name: string, time: number): InputStream {
    let s = this.streams.get(name);
    if (s === undefined) {
      s = {
        max: time,
        heardAt: this.now,
        delivered: true,
        caughtUp: false,
        offset: -1,
        readTo: -1,
        end: -1,
        stalledAt: Number.NaN,
      };
      this.streams.set(name, s);
    }
    return s;
  }

  has(name: string): boolean {
    return this.streams.has(name);
  }

  /** Its reader paused it (it ran ahead of the others): silent by choice, so not idle. */
  heard(name: string): void {
    const s = this.streams.get(name);
    if (s !== undefined) s.delivered = true;
  }

  /** An event of `s` at `time` (hot path: no lookup). */
  static delivered(s: InputStream, time: number): void {
    if (time > s.max) s.max = time;
    s.delivered = true;
    s.caughtUp = false;
  }

  /**
   * The stream was read up to `time` (a batch end, or a scaled run's progress mark); `caughtUp`:
   * nothing more was there to read; `readTo`: the next input offset its reader reads, when told.
   */
  mark(name: string, time: number, caughtUp: boolean, readTo = -1): void {
    const s = this.stream(name, time);
    if (time > s.max) s.max = time;
    s.delivered = true;
    s.caughtUp = caughtUp;
    if (readTo > s.readTo) s.readTo = readTo;
  }

  /**
   * The input partitions' end offsets as just looked up (scaled run: stage 2 cannot see stage 1's
   * fetches). Looked up after the events that are about to be released were read, so a caught-up
   * stream whose partition grew since its reader's last mark is seen before it is passed by.
   */
  /** Whether some stream counts as caught up on its reader's word (`ends` can make it hold again). */
  hasCaughtUp(): boolean {
    for (const s of this.streams.values()) if (s.caughtUp && s.readTo >= 0) return true;
    return false;
  }

  ends(ends: ReadonlyMap<string, number>, adopt = false): void {
    // `adopt` (once, on a fresh start): input partitions not heard of yet hold at -Infinity until
    // their reader says where they stand (or the idle timeout), as a Flink task waits for a watermark
    // on every input channel. Another stage-1 instance's first batch can come before a mark from the
    // instance that reads them, and run event time hours past their first lines.
    if (adopt)
      for (const name of ends.keys())
        if (!this.streams.has(name)) this.stream(name, Number.NEGATIVE_INFINITY);
    for (const [name, s] of this.streams) {
      const end = ends.get(name);
      if (end !== undefined && end > s.end) s.end = end;
    }
  }

  /**
   * At a batch end: the newest event time of the slowest stream still holding the watermark, or
   * +Infinity when none does. Forgets streams gone for ten idle timeouts.
   */
  slowest(): number {
    this.now = this.options.clock();
    const timeout = this.options.idleTimeoutMs;
    let slowest = Number.POSITIVE_INFINITY;
    let holding = 0;
    let idle = 0;
    for (const [name, s] of this.streams) {
      if (s.delivered) {
        s.heardAt = this.now;
        s.delivered = false;
      }
      // Caught up, but lines were written past its reader and no mark of it followed: its reader
      // may be gone. It holds again; the idle timeout counts from when that was first seen.
      const stalled = s.caughtUp && s.readTo >= 0 && s.end > s.readTo;
      if (stalled && Number.isNaN(s.stalledAt)) s.stalledAt = this.now;
      else if (!stalled) s.stalledAt = Number.NaN;
      const free = s.caughtUp && !stalled;
      const silent = this.now - (stalled && s.stalledAt > s.heardAt ? s.stalledAt : s.heardAt);
      if (free || silent > timeout) {
        if (!free) idle++;
        // Long gone (input partition removed, or read by no one for ages): forget it.
        if (silent > 10 * timeout) this.streams.delete(name);
        continue;
      }
      holding++;
      if (s.max < slowest) slowest = s.max;
    }
    this.holding = holding;
    this.idle = idle;
    this.lastSlowest = slowest;
    return slowest;
  }

  /** Where each stream stood (a checkpoint: a new owner holds the watermark for them from the start). */
  export(): StreamCheckpoint {
    return [...this.streams].map(([name, s]) => [
      name,
      Number.isFinite(s.max) ? s.max : null,
      s.caughtUp,
      s.readTo,
    ]);
  }

  /**
   * Takes a checkpoint's streams; anything else (older checkpoints have none) is ignored. `capAt`:
   * no stream is taken to be further than this (the checkpoint's watermark plus the lateness): the
   * new owner replays records from the committed offset, which lags the checkpoint, and their events
   * after the checkpoint's watermark must not find event time already past them.
   */
  import(data: unknown, capAt = Number.POSITIVE_INFINITY): void {
    const streams = StreamCheckpointSchema.safeParse(data);
    if (!streams.success) return;
    for (const [name, checkpointed, caughtUp, readTo] of streams.data) {
      const max = checkpointed === null ? null : Math.min(checkpointed, capAt);
      const s = this.stream(name, max ?? Number.NEGATIVE_INFINITY);
      if (max !== null && max > s.max) s.max = max;
      s.caughtUp = caughtUp;
      if (readTo !== undefined && readTo > s.readTo) s.readTo = readTo;
      s.delivered = false;
    }
  }
}
