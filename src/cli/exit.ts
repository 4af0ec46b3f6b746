/**
 * The CLI's exit codes, one table for every subcommand (README "Exit codes" lists the same):
 * scripts and CI jobs branch on them, so each is tested (test/cli/exit-codes.test.ts).
 */
import { SentinelError } from '../errors.js';

export const EXIT = {
  /** Input analysed, no alert at or above --fail-on (or no --fail-on given). */
  ok: 0,
  /** Alerts at or above --fail-on. */
  alerts: 1,
  /** A usage error (unknown option, stray argument, bad value) or an invalid config or policy. */
  usage: 2,
  /** An input, state directory or output file could not be read or written. */
  input: 3,
  /** Nothing analysed: no access-log line was read. */
  nothingAnalysed: 4,
  /** A server or sink failed (Kafka, Elasticsearch, Kibana unreachable, refused or missing an API). */
  server: 5,
  /** A bug: an error the program did not expect (the stack trace is printed with EGRESS_SENTINEL_DEBUG=1). */
  internal: 70,
} as const;

/** A command line the command cannot run: exit 2, the message and where to find the options. */
export class UsageError extends SentinelError {
  constructor(command: string | undefined, message: string) {
    const help = command === undefined ? 'egress-sentinel --help' : `egress-sentinel ${command} --help`;
    super('ESN_USAGE', `${message}\nRun "${help}" for the options.`, { where: command });
    this.name = 'UsageError';
  }
}

/** node:util parseArgs reports usage errors as TypeErrors with an ERR_PARSE_ARGS_* code. */
export function isParseArgsError(err: unknown): err is Error & { code: string } {
  const code: unknown = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

export function exitCodeFor(err: unknown): number {
  if (isParseArgsError(err)) return EXIT.usage;
  if (!(err instanceof SentinelError)) return isServerError(err) ? EXIT.server : EXIT.internal;
  switch (err.code) {
    case 'ESN_USAGE':
    case 'ESN_CONFIG':
    case 'ESN_POLICY':
      return EXIT.usage;
    case 'ESN_INPUT':
    case 'ESN_SOURCE':
    case 'ESN_STATE':
      return EXIT.input;
    case 'ESN_SINK':
    case 'ESN_SERVER_UNREACHABLE':
    case 'ESN_SERVER_API_MISSING':
    case 'ESN_AUTH':
      return EXIT.server;
  }
}

/** Client library errors that reached the top unwrapped: kafkajs (KafkaJS*), the Elasticsearch transport. */
function isServerError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name.startsWith('KafkaJS') ||
    ['ConnectionError', 'TimeoutError', 'NoLivingConnectionsError', 'ResponseError'].includes(err.name)
  );
}
