/**
 * Things a config or command line allows but that leave part of the detection blind: printed as
 * `warning: ...` on stderr by check, run and replay (they do not change the exit code).
 */
import type { PipelineConfig } from '../pipeline/config.js';
import { loadPolicyFiles } from '../policy/load.js';
import type { PolicySet } from '../policy/policy-set.js';

/** Policies not applied, and forbidden-destination without any policy (it can then never fire). */
export function policyWarnings(config: PipelineConfig, policies: PolicySet, files: number): string[] {
  const warnings = [...policies.notApplied];
  if (policies.empty && config.detection.detectors['forbidden-destination'].enabled)
    warnings.push(
      `${files === 0 ? 'no policy loaded' : 'no loaded policy applies to the egress gateway'}: forbidden-destination ` +
        "has no allow-list and raises nothing. List your egress gateway's AuthorizationPolicy (or an " +
        'EgressPolicy file) under `policies:` in the config, or pass --policy FILE to replay.',
    );
  return warnings;
}

/** The same for a config whose policy files were already checked (check, run). */
export function configPolicyWarnings(config: PipelineConfig): string[] {
  return policyWarnings(
    config,
    loadPolicyFiles(config.policies, config.policyTarget),
    config.policies.length,
  );
}

/** Input that held no access-log line (exit 4 with replay and with a run whose input ended). */
export function nothingReadWarning(from: string, lines: number, malformed: number, hint: string): string {
  return `no access-log line was read from ${from} (${lines} lines: ${malformed} malformed, ${
    lines - malformed
  } skipped). Is it an Istio/Envoy access log? ${hint}, or see the dead letters.`;
}

export function printWarnings(warnings: readonly string[]): void {
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
}
