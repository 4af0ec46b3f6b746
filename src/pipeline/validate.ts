/**
 * Cross-field checks that zod cannot do because they need the environment or the file system
 * (unset secret variables, missing files). `loadCheckedConfig` runs them after the schema and
 * throws one ConfigError listing every problem, each with its path.
 */
import { ConfigError } from '../errors.js';
import { sinkProblems } from '../sinks/registry.js';
import { loadPipelineConfig, type PipelineConfig } from './config.js';

/** Extra checks other stages register (policies, sources): each returns `path: problem` lines. */
export type ConfigCheck = (config: PipelineConfig, env: NodeJS.ProcessEnv, file: string) => string[];

const checks: ConfigCheck[] = [(config, env) => sinkProblems(config.sinks, env)];

export function registerConfigCheck(check: ConfigCheck): void {
  checks.push(check);
}

export function configProblems(config: PipelineConfig, env: NodeJS.ProcessEnv, file: string): string[] {
  return checks.flatMap((c) => c(config, env, file));
}

export function loadCheckedConfig(file: string, env: NodeJS.ProcessEnv = process.env): PipelineConfig {
  const config = loadPipelineConfig(file);
  const problems = configProblems(config, env, file);
  if (problems.length > 0) throw new ConfigError(file, problems);
  return config;
}
