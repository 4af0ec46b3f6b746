/**
 * The Ingest and Detection stages driven synchronously, for tests and benches that feed lines from
 * memory: `processLines` reads a batch and advances event time once, as the run loop does per batch.
 */
import type { Alert } from '../../src/alerts/types.js';
import type { DeadLetter } from '../../src/dead-letter.js';
import type { DetectionConfig } from '../../src/detect/config.js';
import type { Finding } from '../../src/detect/types.js';
import type { NormalizerConfig } from '../../src/identity/normalizer.js';
import type { EgressEvent } from '../../src/identity/types.js';
import type { DecoderOptions } from '../../src/parse/decoder.js';
import { Detection } from '../../src/pipeline/detection.js';
import { emptyCounts, Ingest, type IngestCounts } from '../../src/pipeline/ingest.js';
import type { DetectionStage, IngestStage } from '../../src/pipeline/loop.js';
import type { PolicySet } from '../../src/policy/policy-set.js';

export interface StageOptions {
  detection: DetectionConfig;
  decoder: DecoderOptions;
  mesh: NormalizerConfig;
  policies: PolicySet;
  onFinding?: (finding: Finding) => void;
}

export class Stages {
  readonly ingest: Ingest;
  readonly detection: Detection;
  private deadLetters: DeadLetter[] = [];

  constructor(o: StageOptions) {
    this.ingest = new Ingest({ decoder: o.decoder, mesh: o.mesh });
    this.detection = new Detection({
      detection: o.detection,
      policies: o.policies,
      principals: this.ingest.principals,
      ...(o.onFinding === undefined ? {} : { onFinding: o.onFinding }),
    });
  }

  /** Everything Ingest read so far. */
  get counters(): IngestCounts {
    return this.ingest.totals;
  }

  /** Reads one batch and advances event time (unless `advance` is false). */
  processLines(
    lines: readonly string[],
    source: string,
    position: (i: number) => string,
    advance = true,
  ): void {
    const stats = this.ingest.read({ lines, source, position }, (e, raw) => this.detection.observe(e, raw));
    this.deadLetters.push(...stats.deadLetters);
    if (advance) this.detection.advance();
  }

  finish(): void {
    this.detection.finish();
  }

  takeAlerts(): Alert[] {
    return this.detection.takeAlerts();
  }

  /** Unreadable lines, then late ones, since the last call. */
  takeDeadLetters(): DeadLetter[] {
    const out = [...this.deadLetters, ...this.detection.takeDeadLetters()];
    this.deadLetters = [];
    return out;
  }
}

/**
 * Stages for run-loop tests: each line becomes the event `toEvent` makes of it, and an alert when
 * `alertFor` gives one (in the batch that read it). Event time is whatever the test says it is.
 */
export function syntheticStages(
  toEvent: (line: string, origin: string) => EgressEvent,
  alertFor: (line: string, origin: string) => Alert | null,
): { ingest: IngestStage; detection: DetectionStage & { watermarkAt: number } } {
  let pending: Alert[] = [];
  const ingest: IngestStage = {
    read(batch, onEvent) {
      const stats = { ...emptyCounts(), deadLetters: [], maxTime: Number.NEGATIVE_INFINITY };
      batch.lines.forEach((line, j) => {
        const origin = batch.position(j);
        const e = toEvent(line, origin);
        stats.lines++;
        stats.accessLines++;
        stats.events++;
        if (e.time > stats.maxTime) stats.maxTime = e.time;
        onEvent(e, line);
        const a = alertFor(line, origin);
        if (a !== null) pending.push(a);
      });
      return stats;
    },
  };
  const detection = {
    counts: { events: 0, alerts: 0, late: 0, deadLettered: 0 },
    watermarkAt: Number.POSITIVE_INFINITY,
    observe(): void {
      detection.counts.events++;
    },
    mark(): void {},
    knows: () => false,
    advance(): void {},
    finish(): void {},
    takeAlerts(): Alert[] {
      const out = pending;
      pending = [];
      return out;
    },
    takeDeadLetters: (): DeadLetter[] => [],
    watermark: () => detection.watermarkAt,
  };
  return { ingest, detection };
}
