/**
 * The pipeline config file (`pipelines/*.yaml`): the single source of truth for what a pipeline
 * reads, how it parses, what it detects and where it delivers. Each stage owns its own schema; this
 * file only assembles them. Unknown keys are errors (`.strict()`), and every problem is reported at
 * once with its path.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ScaleConfigSchema } from '../config/scale.js';
import { DetectionConfigSchema } from '../detect/config.js';
import { ConfigError, formatIssues } from '../errors.js';
import { MeshConfigSchema } from '../identity/config.js';
import { MetricsConfigSchema } from '../observability/config.js';
import { ParseConfigSchema } from '../parse/config.js';
import { PolicyTargetSchema } from '../policy/target.js';
import { SinksSchema } from '../sinks/registry.js';
import { SourcesSchema } from '../sources/registry.js';
import { DeliveryConfigSchema, FlowsConfigSchema } from './delivery-config.js';

export const PipelineConfigSchema = z
  .object({
    name: z.string().default('egress-sentinel').describe('A name for logs and metrics.'),
    parse: ParseConfigSchema.prefault({ format: 'auto' }).describe('How access lines are read.'),
    mesh: MeshConfigSchema.default(MeshConfigSchema.parse({})).describe('What is inside the mesh.'),
    sources: SourcesSchema,
    sinks: SinksSchema,
    detection: DetectionConfigSchema.prefault({}).describe(
      'Event time, state, detectors, exceptions and realert.',
    ),
    policies: z
      .array(z.string())
      .default([])
      .describe(
        'Egress policy files (EgressPolicy or Istio AuthorizationPolicy YAML), relative to this config file.',
      ),
    policyTarget: PolicyTargetSchema.prefault({}).describe(
      'The egress gateway the AuthorizationPolicies are enforced on: policies that do not select it are reported and not applied.',
    ),
    delivery: DeliveryConfigSchema.prefault({}).describe(
      'Acknowledgement, retries and dead letters of sinks.',
    ),
    flows: FlowsConfigSchema.prefault({}).describe('Per-minute flow summaries and baseline snapshots.'),
    scale: ScaleConfigSchema.prefault({}).describe(
      'Several instances in one consumer group: re-keying and checkpointed state.',
    ),
    metrics: MetricsConfigSchema.prefault({}).describe(
      'The operator HTTP port: /metrics, /healthz, /readyz.',
    ),
  })
  .strict();

export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;

export function parsePipelineConfig(raw: unknown, file: string): PipelineConfig {
  const result = PipelineConfigSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(file, formatIssues(result.error.issues));
  return result.data;
}

export function loadPipelineConfig(file: string): PipelineConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [
      `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    ]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML: ${(err as Error).message}`]);
  }
  const config = parsePipelineConfig(raw, file);
  // Policy paths are relative to the config file (as documented), not to the working directory.
  config.policies = config.policies.map((p) => resolve(dirname(file), p));
  return config;
}
