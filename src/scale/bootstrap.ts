/**
 * Starts a scaled pipeline instance from a loaded config: metrics port, sinks, dead letters, then
 * `runScaled`. `egress-sentinel run` calls it when `scale.enabled` is true.
 */

import { alertStageOptions } from '../alerts/stage.js';
import type { DetectionConfig } from '../detect/config.js';
import { SentinelError } from '../errors.js';
import { decoderOptions } from '../parse/config.js';
import type { PipelineConfig } from '../pipeline/config.js';
import { Detection } from '../pipeline/detection.js';
import { startService } from '../pipeline/service.js';
import { idleTimeoutOf } from '../pipeline/stages.js';
import { loadPolicyFiles } from '../policy/load.js';
import type { LogFn } from '../sinks/types.js';
import type { KafkaSourceConfig } from '../sources/config.js';
import type { GatewayEvaluatorOptions } from './gateway-evaluator.js';
import { runScaled } from './run-scaled.js';

export async function runScaledFromConfig(config: PipelineConfig, log: LogFn, file: string): Promise<number> {
  const input = config.sources.filter((s): s is KafkaSourceConfig => s.type === 'kafka');
  if (input.length !== 1 || config.sources.length !== 1) {
    throw new SentinelError(
      'ESN_CONFIG',
      `${file}: scale.enabled needs exactly one source, of type kafka (found ${config.sources.map((s) => s.type).join(', ') || 'none'}).`,
      { where: 'scale.enabled' },
    );
  }
  const detection = config.detection;
  const policies = loadPolicyFiles(config.policies, config.policyTarget);

  const rt = await startService(
    config,
    log,
    'Shutting down: finishing the batch in flight, checkpointing, leaving the group.',
  );
  try {
    const summary = await runScaled({
      name: config.name,
      input: input[0] as KafkaSourceConfig,
      scale: config.scale,
      decoder: decoderOptions(config.parse),
      mesh: config.mesh,
      // A stream whose reader left is taken over once the group notices (the session timeout):
      // by default an input partition idle that long stops holding the watermark, as in the plain run.
      newDetection: () =>
        new Detection({
          detection: partitionDetection(detection),
          policies,
          idleTimeoutMs: idleTimeoutOf(config),
        }),
      newFlows: rt.newFlows,
      sinks: rt.sinks,
      retryInitialMs: config.delivery.retryInitialMs,
      retryMaxMs: config.delivery.retryMaxMs,
      shutdown: rt.shutdown,
      stop: rt.stop,
      log,
      metrics: rt.metrics,
      health: rt.health,
      deadLetters: (letters) => rt.deadLetters.write(letters),
      telemetry: rt.telemetry,
      latenessMs: detection.lateness,
      gatewaySilence: gatewaySilenceOf(detection, (input[0] as KafkaSourceConfig).sessionTimeoutMs),
    });
    log('info', 'Stopped; state checkpointed and offsets committed.', {
      ...summary,
      dead_letters: rt.deadLetters.count,
    });
    return 0;
  } finally {
    await rt.close();
  }
}

/** Pairing tolerance of gateway-silence on a by-source partition (see partitionDetection). */
export const PARTITION_MATCH_TOLERANCE_MS = 60_000;

/**
 * A by-source partition sees only some identities' legs: there gateway-silence keeps its per-client
 * reasons (unaccounted legs, no principal) and leaves "the gateway went silent" to the mesh-wide
 * evaluator (gateway-evaluator.ts).
 */
export function partitionDetection(detection: DetectionConfig): DetectionConfig {
  const gs = detection.detectors['gateway-silence'];
  // The two legs reach a partition through different stage-1 instances, which read at their own
  // pace: a sidecar leg can arrive later than the allowed lateness (then it is processed at the
  // release point, not its own time). Pairing them with a wider tolerance keeps such a leg from
  // leaving the gateway's leg "unaccounted".
  const matchTolerance = Math.max(gs.matchTolerance, PARTITION_MATCH_TOLERANCE_MS);
  return {
    ...detection,
    detectors: { ...detection.detectors, 'gateway-silence': { ...gs, judgeSilence: false, matchTolerance } },
  };
}

/** The mesh-wide evaluator's settings, from the same detector config; null when it is disabled. */
export function gatewaySilenceOf(
  detection: DetectionConfig,
  sessionTimeoutMs: number,
): { evaluator: GatewayEvaluatorOptions; alerts: ReturnType<typeof alertStageOptions> } | null {
  const gs = detection.detectors['gateway-silence'];
  if (!gs.enabled || !gs.judgeSilence) return null;
  return {
    evaluator: {
      windowMs: gs.window,
      matchToleranceMs: gs.matchTolerance,
      latenessMs: detection.lateness,
      minSidecarLegs: gs.minSidecarLegs,
      minMatchedRatio: gs.minMatchedRatio,
      // A crashed instance's input is re-read by another after the session timeout; wait that long.
      publisherTimeoutMs: sessionTimeoutMs + 10_000,
    },
    alerts: alertStageOptions(detection),
  };
}
