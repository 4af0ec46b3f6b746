#!/usr/bin/env node
/**
 * The `egress-sentinel` command. Each subcommand is one module in `cli/` registered below; errors we
 * raise on purpose are printed as one clear message (no stack trace) with exit code 2.
 */
import { describeError, SentinelError } from '../errors.js';
import type { Command } from './command.js';

const COMMANDS: Record<string, () => Promise<Command>> = {
  check: async () => (await import('./check.js')).checkCommand,
  setup: async () => (await import('./setup.js')).setupCommand,
  run: async () => (await import('./run.js')).runCommand,
  simulate: async () => (await import('./simulate.js')).simulateCommand,
  report: async () => (await import('./report.js')).reportCommand,
  replay: async () => (await import('./replay.js')).replayCommand,
  demo: async () => (await import('./demo.js')).demoCommand,
};

function usage(): string {
  const names = Object.keys(COMMANDS).sort();
  return `Usage: egress-sentinel <command> [options]\n\nCommands:\n${names.map((n) => `  ${n}`).join('\n')}\n\nRun "egress-sentinel <command> --help" for a command's options.`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    process.stderr.write(`egress-sentinel: unknown command "${name}".\n${usage()}\n`);
    return 2;
  }
  const command = await load();
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
