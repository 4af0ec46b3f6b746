/**
 * PartitionAnalyzer over the detection engine and the alert stage: one per owned partition.
 *
 * A by-source partition merges streams: the events of each input partition arrive in order, but
 * several stage-1 instances (and one instance's input partitions) produce at their own pace, so
 * while a backlog drains one stream can run minutes of event time ahead of another. The watermark
 * is therefore held at the slowest stream that still has events to send (its newest event time
 * minus the allowed lateness), the way Kafka Streams picks the lowest timestamp across a task's
 * partitions. Stage 1 tells each partition where every input partition it reads stands, with
 * progress marks on the records (by-source-records.ts), even when none of that input's events are
 * for this partition. A stream holds the watermark until its mark says it is caught up (nothing
 * more to read: live traffic, so it holds nothing back), and while it is merely quiet, e.g. its
 * stage-1 reader left in a rebalance or crashed and the group has not handed it on yet, for up to
 * `streamTimeoutMs` (wall time; the session timeout plus a margin, as Kafka Streams'
 * max.task.idle.ms): a stream that stays silent longer has no reader, and holding everything
 * for it would hold every alert. A caught-up stream holds again when its partition grew past where
 * its reader said it stood and no mark followed (its reader may have crashed: the input partition's
 * end offsets are looked up before event time moves on, watermarks.ts), so the lines its next reader
 * reads are on time. Otherwise the slow stream's events would arrive behind the watermark: they are
 * late, dead-lettered with the reason and not analysed, as in the plain run (never re-stamped).
 */
import { AlertStage, alertStageOptions } from '../alerts/stage.js';
import type { Alert } from '../alerts/types.js';
import type { DeadLetter } from '../dead-letter.js';
import { buildDetection } from '../detect/build.js';
import type { DetectionConfig } from '../detect/config.js';
import type { DetectionEngine } from '../detect/engine.js';
import { DEFAULT_IDLE_TIMEOUT_MS, type InputStream, InputWatermarks } from '../detect/watermarks.js';
import type { EgressEvent } from '../identity/types.js';
import type { PolicySet } from '../policy/policy-set.js';
import type { StreamProgress } from './by-source-records.js';
import type { PartitionAnalyzer } from './partition-task.js';

export interface DetectionAnalyzerOptions {
  /** A stream neither caught up nor heard from for this long (wall time) no longer holds the watermark. */
  streamTimeoutMs: number;
  /** Wall clock (tests). */
  clock: () => number;
}

/** When the input's session timeout is not known: kafkajs' default session timeout plus 10 s. */
export const DEFAULT_STREAM_TIMEOUT_MS = DEFAULT_IDLE_TIMEOUT_MS;

export class DetectionAnalyzer implements PartitionAnalyzer {
  readonly engine: DetectionEngine;
  private readonly alerts: AlertStage;
  private pending: Alert[] = [];
  /** Event time per input stream (origin `kafka:topic/partition`): the same mechanism as the plain run's. */
  private readonly streams: InputWatermarks;
  private lastStream = '';
  private lastState: InputStream | null = null;
  private readonly latenessMs: number;
  /** Events behind the watermark by more than the allowed lateness: dead-lettered, not analysed. */
  private late: DeadLetter[] = [];

  /**
   * Gateway legs up to this time are not judged "unaccounted" after a restore: the detector's
   * pending legs are not checkpointed, and the replay skips the sidecar legs the restored state
   * already holds, so a gateway leg just after the checkpoint would find its sidecar leg missing.
   */
  private pairedFrom = Number.NEGATIVE_INFINITY;
  private readonly pairingMs: number;
  /** Unaccounted-leg findings dropped after a restore (see `pairedFrom`). */
  unpairedAfterRestore = 0;
  /** Events dropped as copies of an input line already observed (see `observe`). */
  duplicates = 0;
  /** The input partitions were taken from the first end-offset lookup (see `InputWatermarks.ends`). */
  private adopted = false;

  constructor(config: DetectionConfig, policies: PolicySet, options: Partial<DetectionAnalyzerOptions> = {}) {
    this.streams = new InputWatermarks({
      idleTimeoutMs: options.streamTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS,
      clock: options.clock ?? Date.now,
    });
    this.latenessMs = config.lateness;
    this.pairingMs = config.detectors['gateway-silence'].matchTolerance + config.lateness;
    this.alerts = new AlertStage(alertStageOptions(config));
    this.engine = buildDetection(config, policies, (f) => {
      if (f.time <= this.pairedFrom && f.evidence.kind === 'unaccounted-gateway-legs') {
        this.unpairedAfterRestore++;
        return;
      }
      this.alerts.accept(f, this.pending);
    });
  }

  observe(event: EgressEvent): void {
    const origin = event.origin;
    const cut = origin.lastIndexOf('/');
    let s = this.lastState;
    if (s === null || cut !== this.lastStream.length || !origin.startsWith(this.lastStream)) {
      const stream = origin.slice(0, cut);
      s = this.streams.stream(stream, event.time);
      this.lastStream = stream;
      this.lastState = s;
    }
    InputWatermarks.delivered(s, event.time);
    // Stage 1 is at least once: an input partition that moves (or stays) across a rebalance is read
    // again from its committed offset and its lines re-keyed a second time. A line's events reach this
    // partition in input order, so one at or before the newest input offset already seen from its
    // stream is such a copy. Counted twice it would skew baselines, and a copied gateway leg whose
    // sidecar leg (another node's input partition) was not read again pairs with nothing:
    // "unaccounted", the false gateway-silence alerts of two instances.
    const offset = inputOffsetOf(origin, cut);
    if (offset >= 0) {
      if (offset <= s.offset) {
        this.duplicates++;
        return;
      }
      s.offset = offset;
    }
    if (!this.engine.observe(event) && this.late.length < MAX_LATE_LETTERS)
      this.late.push({
        component: 'late',
        reason: this.engine.lateReason(event.time),
        origin: event.origin,
        raw: JSON.stringify(event),
      });
  }

  /** A progress mark: stage 1 has read `p.stream` up to `p.time`, and everything it read is behind us. */
  progress(p: StreamProgress): void {
    this.streams.mark(p.stream, p.time, p.caughtUp, p.readTo);
  }

  needsInputEnds(): boolean {
    return !this.adopted || this.streams.hasCaughtUp();
  }

  inputEnds(ends: ReadonlyMap<string, number>): void {
    this.streams.ends(ends, !this.adopted);
    this.adopted = true;
  }

  /** Late events since the last call, as dead letters (the event as JSON: the line is not here). */
  takeDeadLetters(): DeadLetter[] {
    const out = this.late;
    this.late = [];
    return out;
  }

  eventTime(): { engine: DetectionEngine; idleInputs: number } {
    return { engine: this.engine, idleInputs: this.streams.idle };
  }

  advance(out: Alert[]): void {
    const slowest = this.streams.slowest();
    // A stream forgotten in `slowest()` must not stay cached here.
    this.lastState = null;
    this.lastStream = '';
    this.engine.advance(slowest - this.latenessMs);
    this.alerts.advance(this.engine.watermark, this.pending);
    for (const a of this.pending) out.push(a);
    this.pending = [];
  }

  watermark(): number {
    return this.engine.watermark;
  }

  stateSize(): number {
    return this.engine.state.hosts.size + this.engine.state.domains.size;
  }

  exportIdentities(ids: Iterable<string>): Map<string, Buffer | null> {
    const out = new Map<string, Buffer | null>();
    const state = this.engine.state;
    for (const id of ids) {
      const bytes = state.exportKeyBytes(id);
      // An identity whose baselines were all evicted exports only the empty header: a tombstone.
      out.set(id, bytes.length <= EMPTY_EXPORT_BYTES ? null : bytes);
    }
    return out;
  }

  importIdentity(id: string, state: Uint8Array, owned = false): void {
    this.engine.state.importKeyBytes(id, state, owned);
  }

  deleteIdentity(id: string): void {
    this.engine.state.deleteKey(id);
  }

  identityCount(): number {
    return this.engine.state.identityCount();
  }

  exportGlobal(): Record<string, unknown> {
    return {
      startTime: Number.isNaN(this.engine.state.startTime) ? null : this.engine.state.startTime,
      watermark: Number.isFinite(this.engine.watermark) ? this.engine.watermark : null,
      // Where each input stream stood: a new owner holds the watermark for them from the start,
      // instead of learning them one by one from the records it replays (and running ahead of one
      // whose next record comes later).
      streams: this.streams.export(),
    };
  }

  importGlobal(data: Record<string, unknown>): void {
    // The learning clock is global: keep the earliest any partition knew, so a restored partition
    // does not start learning again (and swallow alerts) on its new owner.
    if (typeof data.watermark === 'number' && data.watermark + this.pairingMs > this.pairedFrom)
      this.pairedFrom = data.watermark + this.pairingMs;
    // Older checkpoints have none: the streams are then learned from the records.
    this.streams.import(
      data.streams,
      typeof data.watermark === 'number' ? data.watermark + this.latenessMs : Number.POSITIVE_INFINITY,
    );
    const t = data.startTime;
    if (
      typeof t === 'number' &&
      (Number.isNaN(this.engine.state.startTime) || t < this.engine.state.startTime)
    )
      this.engine.state.startTime = t;
  }
}

/** The offset after `origin`'s last '/' (`kafka:topic/partition/offset`), or -1 when there is none. */
export function inputOffsetOf(origin: string, cut: number): number {
  let n = 0;
  const end = origin.length;
  if (cut < 0 || cut + 1 >= end) return -1;
  for (let i = cut + 1; i < end; i++) {
    const c = origin.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** Late events kept as dead letters per batch; beyond it they are only counted (engine counters). */
const MAX_LATE_LETTERS = 10_000;

/** Version byte, two zero counts and a zero parts length. */
const EMPTY_EXPORT_BYTES = 13;
