/**
 * The Detection stage: the event-time engine (detectors, baselines) and the alert stage (ids,
 * repeats, exceptions) behind one object. Events go in with `observe`; `advance` moves event time
 * to the slowest input partition's (minus the allowed lateness) and releases what it passed to the
 * detectors; `takeAlerts` and `takeDeadLetters` hand out what that produced. Synchronous, no I/O.
 *
 * Event time per input partition (watermarks.ts): a Kafka batch is one input partition's, so each
 * batch end marks how far its partition was read, and the watermark is held at the slowest one
 * still behind. Sources without partitions (files, stdin) are one ordered stream and mark nothing.
 *
 * The scaled run's by-source partitions use the same stage (scale/stage2.ts), with what they need
 * besides: one partition merges events of many input partitions (`observeMerged` learns each
 * one's event time from the events' origins and drops copies stage 1 re-read), stage 1's progress
 * marks (`mark` with the reader's position), the input partitions' end offsets (`inputEnds`), and
 * the state a changelog checkpoint holds (`exportState`/`importState`, `exportGlobal`/`importGlobal`).
 */
import { AlertStage, alertStageOptions } from '../alerts/stage.js';
import type { Alert } from '../alerts/types.js';
import type { DeadLetter } from '../dead-letter.js';
import { buildDetection } from '../detect/build.js';
import type { DetectionConfig } from '../detect/config.js';
import type { DetectionEngine } from '../detect/engine.js';
import type { Finding } from '../detect/types.js';
import { type InputStream, InputWatermarks } from '../detect/watermarks.js';
import type { PrincipalMap } from '../identity/principal-map.js';
import type { EgressEvent } from '../identity/types.js';
import type { PolicySet } from '../policy/policy-set.js';

export interface DetectionOptions {
  detection: DetectionConfig;
  policies: PolicySet;
  /**
   * Principals learned from the gateways' lines (`Ingest.principals`). A sidecar line carries none,
   * and the order lines are read in differs between a file and several partitions, so a sidecar
   * event's principal is looked up again when it is released, in event-time order: by then every
   * line up to the watermark has been read in both.
   */
  principals?: PrincipalMap;
  /** An input partition behind and silent this long (wall time) stops holding the watermark. */
  idleTimeoutMs?: number;
  /** Wall clock of the idle timeout (tests). */
  clock?: () => number;
  /** Late events kept as dead letters between `takeDeadLetters()` calls; beyond it only counted. */
  maxDeadLetters?: number;
  /** Sees every finding before the alert stage groups it (bench:quality matches findings to attacks). */
  onFinding?: (finding: Finding) => void;
}

/** What went through the stage so far. */
export interface DetectionCounts {
  /** Events observed. */
  events: number;
  /** Alert records handed out (a standing alert is written again as it changes). */
  alerts: number;
  /** Events refused as late. */
  late: number;
  deadLettered: number;
}

export class Detection {
  readonly engine: DetectionEngine;
  readonly alerts: AlertStage;
  /** The input partitions' event time (metrics: how many hold the watermark back, how many idle). */
  readonly inputs: InputWatermarks;
  readonly counts: DetectionCounts = { events: 0, alerts: 0, late: 0, deadLettered: 0 };
  private pendingAlerts: Alert[] = [];
  private deadLetters: DeadLetter[] = [];
  private readonly maxDeadLetters: number;
  private readonly lateness: number;
  /** Findings go straight on to the alert stage, which appends what they raise here. */
  private readonly accept: (f: Finding) => void;

  constructor(options: DetectionOptions) {
    const d = options.detection;
    this.lateness = d.lateness;
    this.maxDeadLetters = options.maxDeadLetters ?? 10_000;
    this.inputs = new InputWatermarks({
      ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    this.pairingMs = d.detectors['gateway-silence'].matchTolerance + d.lateness;
    const alerts = new AlertStage(alertStageOptions(d));
    this.alerts = alerts;
    const onFinding = options.onFinding;
    this.accept =
      onFinding === undefined
        ? (f) => alerts.accept(f, this.pendingAlerts)
        : (f) => {
            onFinding(f);
            alerts.accept(f, this.pendingAlerts);
          };
    this.engine = buildDetection(d, options.policies, (f) => {
      // After a restore (importGlobal) only: see `pairedFrom`.
      if (f.time <= this.pairedFrom && f.evidence.kind === 'unaccounted-gateway-legs') {
        this.unpairedAfterRestore++;
        return;
      }
      this.accept(f);
    });
    const principals = options.principals;
    if (principals !== undefined)
      this.engine.onRelease = (e) => {
        const s = e.source;
        if (e.reporter !== 'sidecar' || s.attribution !== 'metadata' || s.principalSource === 'logged')
          return;
        const learned = principals.principalOf(s.key, e.time);
        s.principal = learned;
        s.principalSource = learned === null ? null : 'learned';
      };
  }

  /** Takes one event (copied); a late one is dead-lettered with `raw`, the line it came from. */
  observe(event: EgressEvent, raw: string): void {
    this.counts.events++;
    if (this.engine.observe(event)) return;
    this.refuseLate(event, raw);
  }

  private refuseLate(event: EgressEvent, raw: string | null): void {
    this.counts.late++;
    if (this.deadLetters.length >= this.maxDeadLetters) return;
    this.counts.deadLettered++;
    this.deadLetters.push({
      component: 'late',
      reason: this.engine.lateReason(event.time),
      origin: event.origin,
      // The scaled run's stage 2 has the event, not its line: the event as JSON.
      raw: raw ?? JSON.stringify(event),
    });
  }

  /**
   * An input partition was read up to event time `time` (-Infinity: nothing read yet); `caughtUp`:
   * nothing more was there to read, so it holds nothing back until it sends again.
   */
  mark(stream: string, time: number, caughtUp: boolean, readTo = -1): void {
    this.inputs.mark(stream, time, caughtUp, readTo);
  }

  /** Whether the input partition has been marked (and so takes part in the watermark). */
  knows(stream: string): boolean {
    return this.inputs.has(stream);
  }

  /** Newest event time of the slowest input partition holding event time back, at the last `advance` (+Infinity: none). */
  slowestInput(): number {
    return this.inputs.lastSlowest;
  }

  /** The run loop paused reading the input partition (it ran ahead): it waits, it is not idle. */
  pausedInput(stream: string): void {
    this.inputs.heard(stream);
  }

  /** Advances event time to the slowest input partition's, minus the allowed lateness. */
  advance(): void {
    // A stream `slowest()` forgets must not stay cached by `observeMerged`.
    this.lastState = null;
    this.lastStream = '';
    this.engine.advance(this.inputs.slowest() - this.lateness);
    this.alerts.advance(this.engine.watermark, this.pendingAlerts);
  }

  /** End of input: releases everything held for lateness and closes standing alerts. */
  finish(): void {
    this.engine.flush();
    this.alerts.flush(this.pendingAlerts);
  }

  /** Alert records produced since the last call. */
  takeAlerts(): Alert[] {
    const out = this.pendingAlerts;
    this.pendingAlerts = [];
    this.counts.alerts += out.length;
    return out;
  }

  /** Late events since the last call. */
  takeDeadLetters(): DeadLetter[] {
    const out = this.deadLetters;
    this.deadLetters = [];
    return out;
  }

  /** Event time up to which every observed event has reached the detectors. */
  watermark(): number {
    return this.engine.watermark;
  }

  // ------------------------------------------------------------------ a scaled run's by-source partition

  /** The input stream (origin up to its last '/') of the last `observeMerged` event, and its state. */
  private lastStream = '';
  private lastState: InputStream | null = null;
  /** Input partitions were adopted from the first end-offset lookup (see `InputWatermarks.ends`). */
  private adopted = false;
  /**
   * Gateway legs up to this time are not judged "unaccounted" after a restore: the detector's
   * pending legs are not checkpointed, and the replay skips the sidecar legs the restored state
   * already holds, so a gateway leg just after the checkpoint would find its sidecar leg missing.
   */
  private pairedFrom = Number.NEGATIVE_INFINITY;
  private readonly pairingMs: number;
  /** Unaccounted-leg findings dropped after a restore (see `pairedFrom`). */
  unpairedAfterRestore = 0;
  /** Events dropped by `observeMerged` as copies of an input line already observed. */
  duplicates = 0;

  /**
   * Takes one event of a partition that merges several input partitions (origin
   * `kafka:topic/partition/offset`): the event moves its own input partition's event time. A late
   * one is dead-lettered as JSON (the line is not here).
   */
  observeMerged(event: EgressEvent): void {
    const origin = event.origin;
    const cut = origin.lastIndexOf('/');
    let s = this.lastState;
    if (s === null || cut !== this.lastStream.length || !origin.startsWith(this.lastStream)) {
      const stream = origin.slice(0, cut);
      s = this.inputs.stream(stream, event.time);
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
    this.counts.events++;
    if (!this.engine.observe(event)) this.refuseLate(event, null);
  }

  /** Whether the input partitions' end offsets are needed before the next `advance` (first batch, or a stream caught up on its reader's word). */
  needsInputEnds(): boolean {
    return !this.adopted || this.inputs.hasCaughtUp();
  }

  /** The input partitions' end offsets, just looked up (before `advance`; watermarks.ts `ends`). */
  inputEnds(ends: ReadonlyMap<string, number>): void {
    this.inputs.ends(ends, !this.adopted);
    this.adopted = true;
  }

  /** Source identities with baselines (hosts and domains tables). */
  stateSize(): number {
    return this.engine.state.hosts.size + this.engine.state.domains.size;
  }

  /** Identities with state. */
  identityCount(): number {
    return this.engine.state.identityCount();
  }

  /** The state of each identity, or null when it has none any more (a tombstone). */
  exportState(ids: Iterable<string>): Map<string, Buffer | null> {
    const out = new Map<string, Buffer | null>();
    const state = this.engine.state;
    for (const id of ids) {
      const bytes = state.exportKeyBytes(id);
      // An identity whose baselines were all evicted exports only the empty header: a tombstone.
      out.set(id, bytes.length <= EMPTY_EXPORT_BYTES ? null : bytes);
    }
    return out;
  }

  /** Replaces the identity's state (`owned`: the bytes are never written again, kept, not copied). */
  importState(id: string, state: Uint8Array, owned = false): void {
    this.engine.state.importKeyBytes(id, state, owned);
  }

  /** Forgets the identity (a tombstone). */
  deleteState(id: string): void {
    this.engine.state.deleteKey(id);
  }

  /** What is not per identity: the learning clock, the watermark, where each input stood. */
  exportGlobal(): Record<string, unknown> {
    return {
      startTime: Number.isNaN(this.engine.state.startTime) ? null : this.engine.state.startTime,
      watermark: Number.isFinite(this.engine.watermark) ? this.engine.watermark : null,
      // Where each input stream stood: a new owner holds the watermark for them from the start,
      // instead of learning them one by one from the records it replays (and running ahead of one
      // whose next record comes later).
      streams: this.inputs.export(),
    };
  }

  importGlobal(data: Record<string, unknown>): void {
    if (typeof data.watermark === 'number' && data.watermark + this.pairingMs > this.pairedFrom)
      this.pairedFrom = data.watermark + this.pairingMs;
    // Older checkpoints have none: the streams are then learned from the records.
    this.inputs.import(
      data.streams,
      typeof data.watermark === 'number' ? data.watermark + this.lateness : Number.POSITIVE_INFINITY,
    );
    // The learning clock is global: keep the earliest any partition knew, so a restored partition
    // does not start learning again (and swallow alerts) on its new owner.
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

/** Version byte, two zero counts and a zero parts length. */
const EMPTY_EXPORT_BYTES = 13;
