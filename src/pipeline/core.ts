/**
 * The parts of a running pipeline that come from the other stages: the sources from the config,
 * and the synchronous processor (parse -> normalise -> detect -> alerts), adapted to the run loop's
 * BatchProcessor: each batch's alerts, its unreadable and late lines as dead letters, every analysed
 * event for the flow summaries, and the detectors' watermark for holding acks.
 *
 * Event time per input partition (watermarks.ts): a Kafka batch is one input partition's, so each
 * batch end marks how far its partition was read, and the detectors' watermark is held at the
 * slowest partition still behind. Partitions assigned but not read yet hold it from the start.
 * Sources without partitions (files, stdin) are one ordered stream, as in `replay`.
 */

import type { AlertStage } from '../alerts/stage.js';
import { InputWatermarks } from '../detect/watermarks.js';
import type { GatewaySeen } from '../identity/normalizer.js';
import type { EgressEvent } from '../identity/types.js';
import { decoderOptions } from '../parse/config.js';
import { loadPolicyFiles } from '../policy/load.js';
import type { DeadLetter } from '../sinks/types.js';
import type { KafkaSourceConfig } from '../sources/config.js';
import { createSource } from '../sources/registry.js';
import type { Source } from '../sources/types.js';
import type { PipelineConfig } from './config.js';
import { BatchProcessor as CoreProcessor, type DeadLetter as LineDeadLetter } from './processor.js';
import type { BatchProcessor } from './run.js';

export interface PipelineCore {
  readonly sources: Source[];
  readonly processor: BatchProcessor;
  /** The input partitions' event time (metrics: how many hold the watermark back, how many idle). */
  readonly watermarks: InputWatermarks;
  /** The synchronous core (its engine's counters and buffer for metrics). */
  readonly core: CoreProcessor;
  /** The alert stage, for its metrics (standing alerts, evictions, floods). */
  readonly alertStage?: AlertStage;
  /** Egress gateways found in the lines so far (start-up and summary messages). */
  readonly gateways?: () => readonly GatewaySeen[];
}

/**
 * How long an input partition that is behind may stay silent before it stops holding the watermark:
 * `detection.idleTimeout`, else the Kafka source's session timeout plus 10 s (its reader left and the
 * group has not handed it on yet), else 40 s.
 */
export function idleTimeoutOf(config: Pick<PipelineConfig, 'detection' | 'sources'>): number {
  if (config.detection.idleTimeout !== undefined) return config.detection.idleTimeout;
  const kafka = config.sources.find((s): s is KafkaSourceConfig => s.type === 'kafka');
  return kafka === undefined ? 40_000 : kafka.sessionTimeoutMs + 10_000;
}

/** A line the pipeline refused (unreadable, or late) as the dead-letter file's record. */
export function lineDeadLetter(d: LineDeadLetter): DeadLetter {
  return {
    '@timestamp': new Date().toISOString(),
    sink: d.stage ?? 'parse',
    reason: d.reason,
    id: d.origin,
    document: d.raw,
  };
}

export function buildCore(config: PipelineConfig, env: NodeJS.ProcessEnv = process.env): PipelineCore {
  let onEvent: (e: EgressEvent) => void = () => {};
  const core = new CoreProcessor({
    detection: config.detection,
    decoder: decoderOptions(config.parse),
    mesh: config.mesh,
    policies: loadPolicyFiles(config.policies, config.policyTarget),
    onEvent: (e) => onEvent(e),
  });
  const deadLetters = (): DeadLetter[] => core.takeDeadLetters().map(lineDeadLetter);
  const sources = config.sources.map((s) => createSource(s, env));
  const watermarks = new InputWatermarks({ idleTimeoutMs: idleTimeoutOf(config) });
  const lateness = config.detection.lateness;
  const processor: BatchProcessor = {
    process(batch, hook) {
      onEvent = hook;
      core.processLines(batch.lines, batch.source, (i) => batch.position(i), false);
      const read = core.takeMaxTime();
      // A batch without access lines says nothing of its partition's event time: it must not hold
      // the watermark at -Infinity (a partition of proxy logs only would stall every alert).
      if (batch.stream !== undefined && (read > Number.NEGATIVE_INFINITY || watermarks.has(batch.stream)))
        watermarks.mark(batch.stream, read, batch.caughtUp === true);
      // Assigned partitions with a backlog not handed over yet: their events must not arrive late.
      for (const s of sources)
        for (const unread of s.unreadStreams?.() ?? [])
          if (!watermarks.has(unread)) watermarks.mark(unread, Number.NEGATIVE_INFINITY, false);
      // Assigned with nothing to read: caught up from the start (until a batch of theirs comes).
      for (const s of sources)
        for (const empty of s.emptyStreams?.() ?? [])
          if (watermarks.has(empty)) watermarks.mark(empty, Number.NEGATIVE_INFINITY, true);
      core.advance(watermarks.slowest() - lateness);
      return { alerts: core.takeAlerts(), deadLetters: deadLetters() };
    },
    finish(hook) {
      onEvent = hook;
      core.finish();
      return { alerts: core.takeAlerts(), deadLetters: deadLetters() };
    },
    watermark: () => core.engine.watermark,
  };
  return { sources, processor, watermarks, core, alertStage: core.alerts, gateways: () => core.gateways() };
}
