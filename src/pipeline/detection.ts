/**
 * The Detection stage: the event-time engine (detectors, baselines) and the alert stage (ids,
 * repeats, exceptions) behind one object. Events go in with `observe`; `advance` moves event time
 * to the slowest input partition's (minus the allowed lateness) and releases what it passed to the
 * detectors; `takeAlerts` and `takeDeadLetters` hand out what that produced. Synchronous, no I/O.
 *
 * Event time per input partition (watermarks.ts): a Kafka batch is one input partition's, so each
 * batch end marks how far its partition was read, and the watermark is held at the slowest one
 * still behind. Sources without partitions (files, stdin) are one ordered stream and mark nothing.
 */
import { AlertStage, alertStageOptions } from '../alerts/stage.js';
import type { Alert } from '../alerts/types.js';
import type { DeadLetter } from '../dead-letter.js';
import { buildDetection } from '../detect/build.js';
import type { DetectionConfig } from '../detect/config.js';
import type { DetectionEngine } from '../detect/engine.js';
import type { Finding } from '../detect/types.js';
import { InputWatermarks } from '../detect/watermarks.js';
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
    this.inputs = new InputWatermarks(
      options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs },
    );
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
    this.engine = buildDetection(d, options.policies, (f) => this.accept(f));
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
    this.counts.late++;
    if (this.deadLetters.length >= this.maxDeadLetters) return;
    this.counts.deadLettered++;
    this.deadLetters.push({
      component: 'late',
      reason: this.engine.lateReason(event.time),
      origin: event.origin,
      raw,
    });
  }

  /**
   * An input partition was read up to event time `time` (-Infinity: nothing read yet); `caughtUp`:
   * nothing more was there to read, so it holds nothing back until it sends again.
   */
  mark(stream: string, time: number, caughtUp: boolean): void {
    this.inputs.mark(stream, time, caughtUp);
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
}
