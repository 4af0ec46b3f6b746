/**
 * `egress-sentinel check --config FILE`: validates a pipeline config (schema, then cross-field checks
 * such as unset secret variables and missing files) without connecting to anything. Prints every
 * problem with its path and exits 2, or prints a short summary and exits 0.
 */
import { parseArgs } from 'node:util';
import { loadCheckedConfig } from '../pipeline/validate.js';
import type { Command } from './command.js';

export const checkCommand: Command = {
  name: 'check',
  summary: 'Validate a pipeline config and its policies without starting anything.',
  async run(args) {
    const { values } = parseArgs({
      args: [...args],
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help || values.config === undefined) {
      process.stdout.write('Usage: egress-sentinel check --config pipelines/FILE.yaml\n');
      return values.help ? 0 : 2;
    }
    const config = loadCheckedConfig(values.config);
    const sinks = config.sinks.map((s) => s.name ?? s.type).join(', ');
    process.stdout.write(`${values.config}: OK (pipeline "${config.name}"; sinks: ${sinks}).\n`);
    return 0;
  },
};

export default checkCommand;
