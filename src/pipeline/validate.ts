/**
 * Cross-field checks that zod cannot do because they need the environment or the file system
 * (unset secret variables, missing files). `loadCheckedConfig` runs them after the schema and
 * throws one ConfigError listing every problem, each with its path.
 */
import { existsSync } from 'node:fs';
import { secretProblems } from '../config/connections.js';
import { ConfigError } from '../errors.js';
import { loadPolicyFiles } from '../policy/load.js';
import { sinkProblems } from '../sinks/registry.js';
import { loadPipelineConfig, type PipelineConfig } from './config.js';

/** Extra checks other stages register (policies, sources): each returns `path: problem` lines. */
export type ConfigCheck = (config: PipelineConfig, env: NodeJS.ProcessEnv, file: string) => string[];

const checks: ConfigCheck[] = [
  (config, env) => sinkProblems(config.sinks, env),
  // Each policy file exists and holds valid policies (the loader's message names the file and the problem).
  (config) =>
    config.policies.flatMap((file, i) => {
      try {
        loadPolicyFiles([file]);
        return [];
      } catch (err) {
        return [`policies[${i}]: ${(err as Error).message}`];
      }
    }),
  (config) =>
    config.sources.flatMap((s, i) =>
      s.type === 'file' && !existsSync(s.path) ? [`sources[${i}].path: no such file: ${s.path}`] : [],
    ),
  (config, env) =>
    config.sources.flatMap((s, i) =>
      s.type === 'kafka'
        ? secretProblems(s.connection.sasl?.password, env, `sources[${i}].connection.sasl.password`)
        : [],
    ),
];

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
