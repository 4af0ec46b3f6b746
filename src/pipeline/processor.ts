/**
 * The synchronous core of a pipeline: one batch of raw lines -> LineDecoder -> Normalizer ->
 * DetectionEngine -> AlertStage. No I/O: `replay` feeds it file lines, `run` feeds it Kafka batches
 * and hands `takeAlerts()` / `takeDeadLetters()` to the sinks before acking.
 */
import { AlertStage, alertStageOptions } from '../alerts/stage.js';
import type { Alert, RuleId } from '../alerts/types.js';
import { buildDetection } from '../detect/build.js';
import type { DetectionConfig } from '../detect/config.js';
import type { DetectionEngine } from '../detect/engine.js';
import { isOuterHopLeg } from '../detect/join.js';
import type { Finding } from '../detect/types.js';
import { type GatewaySeen, Normalizer, type NormalizerConfig } from '../identity/normalizer.js';
import type { EgressEvent } from '../identity/types.js';
import { type DecoderOptions, LineDecoder } from '../parse/decoder.js';
import type { DecodeSink } from '../parse/decoder-types.js';
import type { AccessRecord, LineOrigin, ShipperMeta } from '../parse/types.js';
import type { PolicySet } from '../policy/policy-set.js';

export interface DeadLetter {
  /** `file:line` or `kafka:topic/partition/offset`. */
  origin: string;
  reason: string;
  raw: string;
  /** What refused it: the parser (unreadable line) or event time (late event). Default parse. */
  stage?: 'parse' | 'late';
}

export interface ProcessorCounters {
  lines: number;
  accessLines: number;
  /** Access lines that were egress and went to detection (inbound and in-mesh calls are not). */
  analysed: number;
  notEgress: number;
  skipped: Record<string, number>;
  malformed: number;
  deadLettered: number;
}

export interface ProcessorOptions {
  detection: DetectionConfig;
  decoder: DecoderOptions;
  mesh: NormalizerConfig;
  policies: PolicySet;
  /** Dead letters kept between `takeDeadLetters()` calls; beyond it they are only counted. */
  maxDeadLetters?: number;
  /** Sees every analysed egress event (flow summaries, raw-event sinks); must not keep it (it is reused). */
  onEvent?: (event: EgressEvent) => void;
  /** Sees every finding before the alert stage groups it (bench:quality matches findings to attacks). */
  onFinding?: (finding: Finding) => void;
}

export class BatchProcessor implements DecodeSink {
  readonly counters: ProcessorCounters = {
    lines: 0,
    accessLines: 0,
    analysed: 0,
    notEgress: 0,
    skipped: {},
    malformed: 0,
    deadLettered: 0,
  };
  readonly engine: DetectionEngine;
  readonly alerts: AlertStage;
  private readonly decoder: LineDecoder;
  private readonly normalizer: Normalizer;
  private pendingAlerts: Alert[] = [];
  private deadLetters: DeadLetter[] = [];
  private readonly maxDeadLetters: number;
  private readonly origin: LineOrigin = { source: '', position: '' };
  private readonly onEvent: ((event: EgressEvent) => void) | undefined;
  /** The line being decoded (a dead letter found after decoding, e.g. a late event, still carries its bytes). */
  private line = '';
  /** Newest event time of any access line since `takeMaxTime()` (its input partition's progress). */
  private maxTime = Number.NEGATIVE_INFINITY;

  constructor(options: ProcessorOptions) {
    this.decoder = new LineDecoder(options.decoder);
    this.normalizer = new Normalizer(options.mesh);
    const d = options.detection;
    this.alerts = new AlertStage(alertStageOptions(d));
    const onFinding = options.onFinding;
    this.engine = buildDetection(
      d,
      options.policies,
      onFinding === undefined
        ? (f) => this.alerts.accept(f, this.pendingAlerts)
        : (f) => {
            onFinding(f);
            this.alerts.accept(f, this.pendingAlerts);
          },
    );
    this.maxDeadLetters = options.maxDeadLetters ?? 10_000;
    // A sidecar line carries no principal: identity learns it from the gateway's lines as they are
    // read, and the order lines are read in differs between a file and several partitions (a
    // gateway line on another partition may not be read yet). Looked up again when the event is
    // released, in event-time order, every line up to the watermark has been read in both.
    const principals = this.normalizer.principals;
    this.engine.onRelease = (e) => {
      const s = e.source;
      if (e.reporter !== 'sidecar' || s.attribution !== 'metadata' || s.principalSource === 'logged') return;
      const learned = principals.principalOf(e.source.key, e.time);
      s.principal = learned;
      s.principalSource = learned === null ? null : 'learned';
    };
    this.onEvent = options.onEvent;
  }

  /**
   * Decodes, normalises and observes every line, then advances event time once for the batch
   * (unless `advance` is false: the caller then calls `advance()` itself, e.g. once per several
   * smaller batches, so fewer lines are held in memory at a time with the same alerts).
   */
  processLines(
    lines: readonly string[],
    source: string,
    position: (i: number) => string,
    advance = true,
  ): void {
    this.origin.source = source;
    for (let i = 0; i < lines.length; i++) {
      this.counters.lines++;
      this.origin.position = position(i);
      this.line = lines[i] as string;
      this.decoder.decode(this.line, this);
    }
    this.line = '';
    if (advance) this.advance();
  }

  /** Egress gateways found in the lines so far (for the summary). */
  gateways(): readonly GatewaySeen[] {
    return this.normalizer.gateways();
  }

  /**
   * Advances event time: releases what the watermark passed to the detectors and the alert stage.
   * `upTo` caps the watermark (the slowest input partition's, see watermarks.ts).
   */
  advance(upTo = Number.POSITIVE_INFINITY): void {
    this.engine.advance(upTo);
    this.alerts.advance(this.engine.watermark, this.pendingAlerts);
  }

  /** Newest event time of the access lines read since the last call (-Infinity: none). */
  takeMaxTime(): number {
    const t = this.maxTime;
    this.maxTime = Number.NEGATIVE_INFINITY;
    return t;
  }

  access(record: AccessRecord, meta: ShipperMeta): void {
    this.counters.accessLines++;
    const event = this.normalizer.normalize(record, meta, this.origin);
    if (Number.isNaN(event.time)) {
      this.malformed('no start time and no shipper timestamp', this.line);
      return;
    }
    if (event.time > this.maxTime) this.maxTime = event.time;
    // A gateway's outer leg into its internal listener is not egress itself, but joins the two legs
    // that are (detect/join.ts).
    if ((event.path === 'inbound' || event.path === 'internal') && !isOuterHopLeg(event)) {
      this.counters.notEgress++;
      return;
    }
    this.counters.analysed++;
    this.onEvent?.(event);
    if (!this.engine.observe(event)) this.deadLetter(this.engine.lateReason(event.time), this.line, 'late');
  }

  skipped(reason: string): void {
    this.counters.skipped[reason] = (this.counters.skipped[reason] ?? 0) + 1;
  }

  malformed(reason: string, raw: string): void {
    this.counters.malformed++;
    this.deadLetter(reason, raw, 'parse');
  }

  private deadLetter(reason: string, raw: string, stage: 'parse' | 'late'): void {
    if (this.deadLetters.length < this.maxDeadLetters) {
      this.counters.deadLettered++;
      const origin = `${this.origin.source}:${this.origin.position}`;
      this.deadLetters.push(stage === 'late' ? { origin, reason, raw, stage } : { origin, reason, raw });
    }
  }

  /** End of input: releases everything held for lateness and closes standing alerts. */
  finish(): void {
    this.engine.flush();
    this.alerts.flush(this.pendingAlerts);
  }

  takeAlerts(): Alert[] {
    const out = this.pendingAlerts;
    this.pendingAlerts = [];
    return out;
  }

  takeDeadLetters(): DeadLetter[] {
    const out = this.deadLetters;
    this.deadLetters = [];
    return out;
  }

  /** Distinct alerts raised per rule so far. */
  alertsPerRule(): Record<RuleId, number> {
    return this.alerts.raised;
  }
}
