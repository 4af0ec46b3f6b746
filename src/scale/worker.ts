#!/usr/bin/env node
/**
 * `node dist/src/scale/worker.js --config FILE`: one scaled instance, without the rest of the CLI.
 * `egress-sentinel run` does the same when `scale.enabled` is true; the bench and the scale-out
 * integration test start this entry as child processes.
 */
import { parseArgs } from 'node:util';
import { describeError } from '../errors.js';
import { stderrLog } from '../pipeline/log.js';
import { loadCheckedConfig } from '../pipeline/validate.js';
import { runScaledFromConfig } from './bootstrap.js';

const { values } = parseArgs({
  options: { config: { type: 'string', short: 'c' }, 'log-level': { type: 'string', default: 'info' } },
});
if (values.config === undefined) {
  process.stderr.write('Usage: worker --config FILE\n');
  process.exit(2);
}
const file = values.config;
runScaledFromConfig(loadCheckedConfig(file), stderrLog(values['log-level'] as 'info'), file).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`egress-sentinel: ${describeError(err)}\n`);
    process.exitCode = 2;
  },
);
