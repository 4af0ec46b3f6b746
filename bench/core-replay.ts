/**
 * What `bench:quality` and the scenario tests (test/scenario) share: the seed's egress policy and a
 * replay of simulated lines through the pipeline's Ingest and Detection stages (decode, normalise,
 * detect, alerts) with default settings, event time advanced as `egress-sentinel replay` advances it.
 */
import type { z } from 'zod';
import type { Alert } from '../src/alerts/types.js';
import type { DeadLetter } from '../src/dead-letter.js';
import { type DetectionConfig, DetectionConfigSchema } from '../src/detect/config.js';
import type { Finding } from '../src/detect/types.js';
import { MeshConfigSchema } from '../src/identity/config.js';
import type { NormalizerConfig } from '../src/identity/normalizer.js';
import type { DecoderOptions } from '../src/parse/decoder.js';
import { Detection } from '../src/pipeline/detection.js';
import { Ingest, type IngestCounts } from '../src/pipeline/ingest.js';
import { parsePolicyText } from '../src/policy/load.js';
import { PolicySet } from '../src/policy/policy-set.js';

/** The seed's policy: app A may reach IBM's hosts, app B its database. */
export const SEED_POLICY = `
kind: EgressPolicy
policies:
  - name: app-a-egress
    source: { namespace: app-a }
    allow: ["*.ibm.com"]
  - name: app-b-db
    source: { namespace: app-b }
    allow: ["mongo1.composedb.com"]
`;

/** Lines per batch: event time advances once per batch, as in `replay` (src/cli/replay.ts). */
const BATCH = 4096;

export interface CoreOptions {
  /** Default: the seed's policy. */
  policies?: PolicySet;
  /** Mesh settings; default: none. */
  mesh?: z.input<typeof MeshConfigSchema>;
  onFinding?: (finding: Finding) => void;
}

export interface StageOptions {
  detection: DetectionConfig;
  decoder: DecoderOptions;
  mesh: NormalizerConfig;
  policies: PolicySet;
  onFinding?: (finding: Finding) => void;
}

/**
 * The Ingest and Detection stages driven synchronously from memory: `processLines` reads a batch
 * and advances event time once, as the run loop does per batch (src/pipeline/loop.ts).
 */
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
    // Bare lines still held for a jump ahead of their input's clock (parse/time-jump.ts).
    const held = this.ingest.endOfInput((e, raw) => this.detection.observe(e, raw));
    this.deadLetters.push(...held.deadLetters);
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

/** The stages with default detection settings. */
export function coreProcessor(options: CoreOptions = {}): Stages {
  return new Stages({
    ...(options.onFinding === undefined ? {} : { onFinding: options.onFinding }),
    detection: DetectionConfigSchema.parse({}),
    decoder: { format: 'auto' },
    mesh: MeshConfigSchema.parse(options.mesh ?? {}),
    policies: options.policies ?? policiesFromText(SEED_POLICY),
  });
}

export function policiesFromText(text: string): PolicySet {
  return new PolicySet(parsePolicyText(text, 'policy.yaml'));
}

/**
 * Feeds `lines` to `processor` in batches (lines numbered from 1 under `source`), then ends the
 * input; returns every alert record in the order it was raised.
 */
export function replayThroughCore(processor: Stages, lines: Iterable<string>, source: string): Alert[] {
  const alerts: Alert[] = [];
  let batch: string[] = [];
  let first = 1;
  const flush = () => {
    const base = first;
    processor.processLines(batch, source, (i) => String(base + i));
    alerts.push(...processor.takeAlerts());
    first += batch.length;
    batch = [];
  };
  for (const line of lines) {
    batch.push(line);
    if (batch.length === BATCH) flush();
  }
  flush();
  processor.finish();
  alerts.push(...processor.takeAlerts());
  return alerts;
}
