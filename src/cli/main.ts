#!/usr/bin/env node
/**
 * The `egress-sentinel` command. Each subcommand is one module in `cli/` registered below; errors we
 * raise on purpose are printed as one clear message (no stack trace) with exit code 2.
 */
import { describeError, SentinelError } from '../errors.js';
import type { Command } from './command.js';

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
  return `Usage: egress-sentinel <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun "egress-sentinel <command> --help" for a command's options.`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    process.stderr.write(`egress-sentinel: unknown command "${name}".\n${usage()}\n`);
    return 2;
  }
  const command = await entry.load();
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`egress-sentinel: ${describeError(err)}\n`);
    if (!(err instanceof SentinelError) && err instanceof Error && err.stack)
      process.stderr.write(`${err.stack}\n`);
    process.exitCode = err instanceof SentinelError ? 2 : 1;
  },
);
