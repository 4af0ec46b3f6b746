/**
 * The parts of a running pipeline that come from the other stages: the sources from the config,
 * and the synchronous processor (parse -> normalise -> detect -> alerts), adapted to the run loop's
 * BatchProcessor: each batch's alerts, its unreadable lines as dead letters, every analysed event
 * for the flow summaries, and the detectors' watermark for holding acks.
 */

import { readSecret } from '../config/connections.js';
import { SentinelError } from '../errors.js';
import type { EgressEvent } from '../identity/types.js';
import { loadPolicyFiles } from '../policy/load.js';
import type { DeadLetter } from '../sinks/types.js';
import { createSource, type SourceConfig } from '../sources/registry.js';
import type { Source } from '../sources/types.js';
import type { PipelineConfig } from './config.js';
import { BatchProcessor as CoreProcessor } from './processor.js';
import type { BatchProcessor } from './run.js';

export interface PipelineCore {
  readonly sources: Source[];
  readonly processor: BatchProcessor;
}

/** Kafka sources take TLS and SASL from the environment when the config has none (as the Kafka sink does). */
export function withKafkaEnv(source: SourceConfig, env: NodeJS.ProcessEnv): SourceConfig {
  if (source.type !== 'kafka') return source;
  const out = { ...source };
  if (!out.ssl && env.KAFKA_TLS === 'true') out.ssl = true;
  const username = env.KAFKA_SASL_USERNAME;
  if (out.sasl === undefined && username !== undefined && username !== '') {
    const mechanism = env.KAFKA_SASL_MECHANISM ?? 'scram-sha-512';
    if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512')
      throw new SentinelError(
        'ESN_CONFIG',
        `KAFKA_SASL_MECHANISM: expected plain, scram-sha-256 or scram-sha-512, got "${mechanism}".`,
      );
    out.sasl = {
      mechanism,
      username,
      password: readSecret({ env: 'KAFKA_SASL_PASSWORD' }, env, 'Kafka SASL password'),
    };
  }
  return out;
}

export function buildCore(config: PipelineConfig, env: NodeJS.ProcessEnv = process.env): PipelineCore {
  let onEvent: (e: EgressEvent) => void = () => {};
  const core = new CoreProcessor({
    detection: config.detection,
    decoder: {
      format: config.parse.format,
      ...(config.parse.customFormat === undefined ? {} : { customFormat: config.parse.customFormat }),
      ...(config.parse.customJsonFormat === undefined
        ? {}
        : { customJsonFormat: config.parse.customJsonFormat }),
    },
    mesh: config.mesh,
    policies: loadPolicyFiles(config.policies),
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
  return { sources: config.sources.map((s) => createSource(withKafkaEnv(s, env))), processor };
}
