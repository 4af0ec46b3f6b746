/**
 * The parts of a running pipeline that come from the other stages: the sources from the config,
 * and the synchronous processor (parse -> normalise -> detect -> alerts), adapted to the run loop's
 * BatchProcessor: each batch's alerts, its unreadable lines as dead letters, every analysed event
 * for the flow summaries, and the detectors' watermark for holding acks.
 */

import type { AlertStage } from '../alerts/stage.js';
import type { GatewaySeen } from '../identity/normalizer.js';
import type { EgressEvent } from '../identity/types.js';
import { decoderOptions } from '../parse/config.js';
import { loadPolicyFiles } from '../policy/load.js';
import type { DeadLetter } from '../sinks/types.js';
import { createSource } from '../sources/registry.js';
import type { Source } from '../sources/types.js';
import type { PipelineConfig } from './config.js';
import { BatchProcessor as CoreProcessor } from './processor.js';
import type { BatchProcessor } from './run.js';

export interface PipelineCore {
  readonly sources: Source[];
  readonly processor: BatchProcessor;
  /** The alert stage, for its metrics (standing alerts, evictions, floods). */
  readonly alertStage?: AlertStage;
  /** Egress gateways found in the lines so far (start-up and summary messages). */
  readonly gateways?: () => readonly GatewaySeen[];
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
  const deadLetters = (): DeadLetter[] =>
    core.takeDeadLetters().map((d) => ({
      '@timestamp': new Date().toISOString(),
      sink: 'parse',
      reason: d.reason,
      id: d.origin,
      document: d.raw,
    }));
  const processor: BatchProcessor = {
    process(batch, hook) {
      onEvent = hook;
      core.processLines(batch.lines, batch.source, (i) => batch.position(i));
      return { alerts: core.takeAlerts(), deadLetters: deadLetters() };
    },
    finish(hook) {
      onEvent = hook;
      core.finish();
      return { alerts: core.takeAlerts(), deadLetters: deadLetters() };
    },
    watermark: () => core.engine.watermark,
  };
  return {
    sources: config.sources.map((s) => createSource(s, env)),
    processor,
    alertStage: core.alerts,
    gateways: () => core.gateways(),
  };
}
