/**
 * PartitionAnalyzer over the detection engine and the alert stage: one per owned partition.
 *
 * A by-source partition merges streams: the events of each input partition arrive in order, but
 * several stage-1 instances (and one instance's input partitions) produce at their own pace, so
 * while a backlog drains one stream can run minutes of event time ahead of another. The watermark
 * is therefore held at the slowest stream that is still delivering (its newest event time minus the
 * allowed lateness), the way Kafka Streams picks the lowest timestamp across a task's partitions;
 * a stream that delivered nothing for `PARTITION_STREAM_IDLE_MS` (wall time, as Kafka Streams'
 * max.task.idle.ms) or in the last `PARTITION_STREAM_IDLE_BATCHES` batches no longer holds it. Short,
 * because a sparse stream (a node with few pods of this partition's namespaces) holds every alert of
 * the partition that long after each delivery. Which streams feed a partition is only known once they
 * deliver: a stream whose first events come after others advanced the watermark is late (its legs
 * still pair within gateway-silence's partition tolerance, `PARTITION_MATCH_TOLERANCE_MS`). The
 * watermark moves only at batch ends, so when input stops, events newer than the slowest stream
 * wait for the next batch, as they wait for the lateness anyway. Otherwise the slow stream's events arrive behind the
 * watermark and are processed out of their time (gateway-silence would pair a gateway leg with
 * nothing and call it unaccounted).
 */
import { AlertStage, alertStageOptions } from '../alerts/stage.js';
import type { Alert } from '../alerts/types.js';
import { buildDetection } from '../detect/build.js';
import type { DetectionConfig } from '../detect/config.js';
import type { DetectionEngine } from '../detect/engine.js';
import type { EgressEvent } from '../identity/types.js';
import type { PolicySet } from '../policy/policy-set.js';
import type { PartitionAnalyzer } from './partition-task.js';

export class DetectionAnalyzer implements PartitionAnalyzer {
  readonly engine: DetectionEngine;
  private readonly alerts: AlertStage;
  private pending: Alert[] = [];
  /** Newest event time per input stream (origin `kafka:topic/partition`) and when it last delivered. */
  private readonly streams = new Map<string, InputStream>();
  private lastStream = '';
  private lastState: InputStream | null = null;
  private clock = Date.now();
  /** Batches ended (`advance` calls). */
  private batches = 0;
  private readonly latenessMs: number;

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

  constructor(config: DetectionConfig, policies: PolicySet) {
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
      s = this.streams.get(stream) ?? null;
      if (s === null) {
        s = { max: event.time, seenAt: this.clock, seenBatch: this.batches, delivered: true, offset: -1 };
        this.streams.set(stream, s);
      }
      this.lastStream = stream;
      this.lastState = s;
    }
    if (event.time > s.max) s.max = event.time;
    s.delivered = true;
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
    this.engine.observe(event);
  }

  advance(out: Alert[]): void {
    this.clock = Date.now();
    this.batches++;
    for (const s of this.streams.values()) {
      if (s.delivered) {
        s.seenAt = this.clock;
        s.seenBatch = this.batches;
        s.delivered = false;
      }
    }
    let slowest = Number.POSITIVE_INFINITY;
    for (const [stream, s] of this.streams) {
      if (
        this.clock - s.seenAt > PARTITION_STREAM_IDLE_MS ||
        this.batches - s.seenBatch > PARTITION_STREAM_IDLE_BATCHES
      ) {
        // Long gone (revoked input partition, node drained): forget it.
        if (this.clock - s.seenAt > 100 * PARTITION_STREAM_IDLE_MS) {
          this.streams.delete(stream);
          if (this.lastState === s) this.lastState = null;
        }
        continue;
      }
      if (s.max < slowest) slowest = s.max;
    }
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
    };
  }

  importGlobal(data: Record<string, unknown>): void {
    // The learning clock is global: keep the earliest any partition knew, so a restored partition
    // does not start learning again (and swallow alerts) on its new owner.
    if (typeof data.watermark === 'number' && data.watermark + this.pairingMs > this.pairedFrom)
      this.pairedFrom = data.watermark + this.pairingMs;
    const t = data.startTime;
    if (
      typeof t === 'number' &&
      (Number.isNaN(this.engine.state.startTime) || t < this.engine.state.startTime)
    )
      this.engine.state.startTime = t;
  }
}

/** A stream that delivered nothing for this long (wall time) no longer holds the watermark back. */
export const PARTITION_STREAM_IDLE_MS = 2000;
/**
 * ... or for this many of the partition's batches. Live, batches follow each other every few hundred
 * ms and a sparse stream would otherwise hold every alert for the 2 s; while a backlog drains, a
 * batch holds records of every stream that is producing.
 */
export const PARTITION_STREAM_IDLE_BATCHES = 3;

interface InputStream {
  /** Newest event time it delivered. */
  max: number;
  /** Wall time of the batch end at which it last delivered. */
  seenAt: number;
  /** The batch (count of `advance` calls) in which it last delivered. */
  seenBatch: number;
  /** Delivered in the batch in progress. */
  delivered: boolean;
  /** Newest input offset observed (the origin's `partition/offset`), -1 before any. */
  offset: number;
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

/** Version byte, two zero counts and a zero parts length. */
const EMPTY_EXPORT_BYTES = 13;
