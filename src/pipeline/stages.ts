/**
 * The stages a pipeline config describes: its sources, and the Ingest and Detection stages with
 * the config's parse, mesh, detection and policy settings. `run` takes all of it from the config;
 * `replay` names its own inputs, policy files and format.
 */
import type { Finding } from '../detect/types.js';
import { decoderOptions } from '../parse/config.js';
import type { FormatMode } from '../parse/decoder.js';
import { loadPolicyFiles } from '../policy/load.js';
import type { PolicySet } from '../policy/policy-set.js';
import type { KafkaSourceConfig } from '../sources/config.js';
import { createSource } from '../sources/registry.js';
import type { Source } from '../sources/types.js';
import type { PipelineConfig } from './config.js';
import { Detection } from './detection.js';
import { Ingest } from './ingest.js';

export interface Stages {
  readonly ingest: Ingest;
  readonly detection: Detection;
}

export interface StageOptions {
  /** The allow-lists (default: the config's policy files). */
  policies?: PolicySet;
  /** Overrides `parse.format` (`replay --format`). */
  format?: FormatMode;
  /** Sees every finding before the alert stage (bench:quality). */
  onFinding?: (finding: Finding) => void;
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

export function buildStages(config: PipelineConfig, options: StageOptions = {}): Stages {
  const decoder = decoderOptions(config.parse);
  const ingest = new Ingest({
    decoder: options.format === undefined ? decoder : { ...decoder, format: options.format },
    mesh: config.mesh,
  });
  const detection = new Detection({
    detection: config.detection,
    policies: options.policies ?? loadPolicyFiles(config.policies, config.policyTarget),
    principals: ingest.principals,
    idleTimeoutMs: idleTimeoutOf(config),
    ...(options.onFinding === undefined ? {} : { onFinding: options.onFinding }),
  });
  return { ingest, detection };
}

/** The config's sources (Kafka credentials from `env`). */
export function buildSources(config: PipelineConfig, env: NodeJS.ProcessEnv = process.env): Source[] {
  return config.sources.map((s) => createSource(s, env));
}
