/**
 * Things a config or command line allows but that leave part of the detection blind: printed as
 * `warning: ...` on stderr by check, run and replay (they do not change the exit code).
 */
import type { PipelineConfig } from '../pipeline/config.js';

/** forbidden-destination judges against the loaded policies: with none, it can never fire. */
export function noPolicyWarning(config: PipelineConfig, policyFiles: number): string[] {
  if (policyFiles > 0 || !config.detection.detectors['forbidden-destination'].enabled) return [];
  return [
    'no policy loaded: forbidden-destination has no allow-list and raises nothing. List your egress ' +
      "gateway's AuthorizationPolicy (or an EgressPolicy file) under `policies:` in the config, or " +
      'pass --policy FILE to replay.',
  ];
}

export function printWarnings(warnings: readonly string[]): void {
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
}
