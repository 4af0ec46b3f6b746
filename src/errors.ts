/**
 * One place for the project's error codes. Bad log lines are not exceptions (parsers return a reason);
 * these are for configuration, policies, servers and sinks.
 */
import type { z } from 'zod';

export const ERROR_CODES = [
  'ESN_USAGE',
  'ESN_CONFIG',
  'ESN_POLICY',
  'ESN_INPUT',
  'ESN_SOURCE',
  'ESN_SINK',
  'ESN_STATE',
  'ESN_SERVER_UNREACHABLE',
  'ESN_SERVER_API_MISSING',
  'ESN_AUTH',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class SentinelError extends Error {
  readonly code: ErrorCode;
  /** Where it happened (file:line, topic/partition/offset, sink name, config path). */
  readonly where: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; where?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SentinelError';
    this.code = code;
    this.where = options.where;
  }
}

/** Every problem found in a config at once, each prefixed with its path. */
export class ConfigError extends SentinelError {
  readonly problems: readonly string[];

  constructor(file: string, problems: readonly string[]) {
    super('ESN_CONFIG', `Invalid config ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      where: file,
    });
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A message for a person: no stack trace for errors we raised on purpose. */
export function describeError(err: unknown): string {
  if (err instanceof SentinelError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Turns zod issues into `path.to.field: message` lines. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path
      .map((part, i) =>
        typeof part === 'number' ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`,
      )
      .join('');
    return `${path || '(root)'}: ${issue.message}${camelCaseHint(issue)}`;
  });
}

/** Config keys used to be partly snake_case: name the camelCase key an old file means. */
function camelCaseHint(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'unrecognized_keys') return '';
  const renamed = issue.keys
    .filter((k) => /^[a-z0-9]+(_[a-z0-9]+)+$/.test(k))
    .map((k) => `${k} -> ${k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())}`);
  return renamed.length === 0 ? '' : ` (keys are camelCase: ${renamed.join(', ')})`;
}
