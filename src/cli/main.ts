#!/usr/bin/env node
/**
 * The `egress-sentinel` command. Each subcommand is one module in `cli/` registered below. Errors
 * are printed as one message without a stack trace, with the exit code of their kind (cli/exit.ts).
 */
import { describeError } from '../errors.js';
import { quietKafkajsNegativeTimeout } from '../sources/kafka-node-warning.js';
import type { Command } from './command.js';
import { EXIT, exitCodeFor, isParseArgsError, UsageError } from './exit.js';
import { packageVersion } from './package-root.js';

/** name -> one-line summary and a lazy loader, so `--help` does not load every module. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: {
    summary: "simulate two days with the seed's attacks, detect them, print a table",
    load: async () => (await import('./demo.js')).demoCommand,
  },
  replay: {
    summary: 'detect on access-log files or stdin; alerts as JSON lines',
    load: async () => (await import('./replay.js')).replayCommand,
  },
  run: {
    summary: 'run a pipeline from its config (Kafka in; Kafka, Elasticsearch, webhooks out)',
    load: async () => (await import('./run.js')).runCommand,
  },
  check: {
    summary: 'validate a pipeline config and its policies without starting anything',
    load: async () => (await import('./check.js')).checkCommand,
  },
  setup: {
    summary: 'install Elasticsearch templates and retention, or Kibana dashboards',
    load: async () => (await import('./setup.js')).setupCommand,
  },
  simulate: {
    summary: 'write realistic mesh traffic with chosen attacks',
    load: async () => (await import('./simulate.js')).simulateCommand,
  },
  report: {
    summary: 'turn an alerts file into a self-contained HTML report',
    load: async () => (await import('./report.js')).reportCommand,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: egress-sentinel <command> [options]
       egress-sentinel --version

Commands:
${lines.join('\n')}

Run "egress-sentinel <command> --help" for a command's options.

Exit codes:
  0  analysed, no alert at or above --fail-on      3  an input or output could not be read or written
  1  alerts at or above --fail-on                  4  nothing analysed: no access-log line was read
  2  usage error, invalid config or policy         5  a server or sink failed (Kafka, Elasticsearch, Kibana)`;
}

/** A stray `check pipelines/x.yaml`: say which option the file belongs to. */
function hint(command: string, err: Error): string {
  const stray = /Unexpected argument '([^']*)'/.exec(err.message)?.[1];
  if (stray !== undefined && /\.ya?ml$/.test(stray) && ['check', 'run'].includes(command))
    return ` Did you mean "--config ${stray}"?`;
  return '';
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`${usage()}\n`);
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return EXIT.ok;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`egress-sentinel ${packageVersion()}\n`);
    return EXIT.ok;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    const what = name.startsWith('-') ? `unknown option "${name}"` : `unknown command "${name}"`;
    throw new UsageError(undefined, `${what}. Commands: ${Object.keys(COMMANDS).join(', ')}.`);
  }
  const command = await entry.load();
  try {
    return await command.run(rest);
  } catch (err) {
    if (isParseArgsError(err)) {
      const message = err.message.replace(/\. To specify a positional.*$/s, '').replace(/\.?$/, '.');
      const where = name === 'setup' && rest[0] === 'kibana' ? 'setup kibana' : name;
      throw new UsageError(where, `${message}${hint(name, err)}`);
    }
    throw err;
  }
}

quietKafkajsNegativeTimeout();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = exitCodeFor(err);
    if (code === EXIT.internal) {
      process.stderr.write(`egress-sentinel: internal error: ${describeError(err)}\n`);
      if (process.env.EGRESS_SENTINEL_DEBUG && err instanceof Error && err.stack)
        process.stderr.write(`${err.stack}\n`);
      else
        process.stderr.write('Set EGRESS_SENTINEL_DEBUG=1 to print the stack trace, and please report it.\n');
    } else
      process.stderr.write(
        `egress-sentinel: ${err instanceof UsageError ? err.message : describeError(err)}\n`,
      );
    process.exitCode = code;
  },
);
