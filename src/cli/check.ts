/**
 * `egress-sentinel check --config FILE [--offline]`: validates a pipeline config (schema, then
 * cross-field checks such as unset secret variables and missing files) without connecting to
 * anything. Prints every problem with its path and exits 2, or prints a short summary and exits 0;
 * what the config allows but leaves blind (no policy for forbidden-destination) is a warning.
 * `--offline` checks the shape only: secrets (environment variables, secret files) need not exist,
 * as when a CI job checks a config that is only deployed with its secrets.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { loadPipelineConfig, type PipelineConfig } from '../pipeline/config.js';
import { configProblems, loadCheckedConfig, securityWarnings } from '../pipeline/validate.js';
import type { Command } from './command.js';
import { UsageError } from './exit.js';
import { configPolicyWarnings, printWarnings } from './warnings.js';

const HELP = `Usage: egress-sentinel check --config FILE [--offline]

Validates a pipeline config and its policy files without connecting to anything: every problem is
listed with its path (exit 2), or a summary is printed (exit 0). Warnings go to stderr.

Options:
  -c, --config FILE   the pipeline config (YAML)
  --offline           check the shape only: secret variables and secret files need not be set
  --log-level L       accepted (and ignored) so that a \`run\` command line can be checked as is
`;

/** The two messages readSecret (config/connections.ts) gives for a secret that is not there. */
const MISSING_SECRET = /the environment variable \S+ is not set\.$|cannot read the secret file /;

export function loadOfflineCheckedConfig(file: string, env: NodeJS.ProcessEnv = process.env): PipelineConfig {
  const config = loadPipelineConfig(file);
  const problems = configProblems(config, env, file).filter((p) => !MISSING_SECRET.test(p));
  if (problems.length > 0) throw new ConfigError(file, problems);
  return config;
}

export const checkCommand: Command = {
  name: 'check',
  summary: 'Validate a pipeline config and its policies without starting anything.',
  async run(args) {
    const { values } = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string', short: 'c' },
        offline: { type: 'boolean' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (values.config === undefined) throw new UsageError('check', '--config FILE is required.');
    const config = values.offline
      ? loadOfflineCheckedConfig(values.config)
      : loadCheckedConfig(values.config);
    printWarnings([...configPolicyWarnings(config), ...securityWarnings(config)]);
    const sinks = config.sinks.map((s) => s.name ?? s.type).join(', ');
    const offline = values.offline ? ' (offline: secrets not checked)' : '';
    process.stdout.write(`${values.config}: OK${offline} (pipeline "${config.name}"; sinks: ${sinks}).\n`);
    return 0;
  },
};

export default checkCommand;
