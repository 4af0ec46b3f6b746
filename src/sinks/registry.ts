/**
 * Every sink type, one line each (a module's SinkSpec, sinks/spec.ts). The `sinks` config union, the
 * constructor and the cross-field checks are derived from this list.
 */
import { z } from 'zod';
import { elasticsearchSinkSpec } from './elasticsearch/index.js';
import { fileSinkSpec } from './file.js';
import { kafkaSinkSpec } from './kafka.js';
import type { SinkSpec } from './spec.js';
import { stdoutSinkSpec } from './stdout.js';
import type { Sink, SinkContext } from './types.js';
import { pagerDutySinkSpec, slackSinkSpec, webhookSinkSpec } from './webhook/index.js';

export const SINKS = [
  stdoutSinkSpec,
  fileSinkSpec,
  kafkaSinkSpec,
  elasticsearchSinkSpec,
  webhookSinkSpec,
  pagerDutySinkSpec,
  slackSinkSpec,
] as const;

/** The tuple of config schemas, as `z.discriminatedUnion` wants it. */
type ConfigsOf<T extends readonly { config: unknown }[]> = { -readonly [K in keyof T]: T[K]['config'] };

export const SINK_TYPES: string[] = SINKS.map((s) => s.type);

export const SinkConfigSchema = z.discriminatedUnion(
  'type',
  SINKS.map((s) => s.config) as unknown as ConfigsOf<typeof SINKS>,
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `unknown sink type; expected one of ${SINK_TYPES.join(', ')}`
        : undefined,
  },
);

export type SinkConfig = z.infer<typeof SinkConfigSchema>;

export const SinksSchema = z
  .array(SinkConfigSchema)
  .default([{ type: 'stdout', include: ['alerts'] }])
  .describe(
    'Where alerts, flow summaries, baselines and events go; every sink must accept a batch before it is acknowledged.',
  );

const BY_TYPE = new Map<string, SinkSpec>(SINKS.map((s) => [s.type, s as unknown as SinkSpec]));

function specOf(config: SinkConfig): SinkSpec {
  return BY_TYPE.get(config.type) as SinkSpec;
}

export function createSink(config: SinkConfig, ctx: SinkContext): Sink {
  return specOf(config).create(config, ctx);
}

/** Problems zod cannot see (unset secret variables, unreadable secret files), each prefixed with its path. */
export function sinkProblems(sinks: readonly SinkConfig[], env: NodeJS.ProcessEnv, path = 'sinks'): string[] {
  const problems: string[] = [];
  const names = new Map<string, number>();
  sinks.forEach((s, i) => {
    const at = `${path}[${i}] (${s.type})`;
    const spec = specOf(s);
    for (const p of spec.problems?.(s, env) ?? []) problems.push(`${at}.${p}`);
    const name = s.name ?? spec.defaultName(s);
    const seen = names.get(name);
    if (seen !== undefined)
      problems.push(
        `${at}.name: "${name}" is also the name of sinks[${seen}]; give each sink a distinct name`,
      );
    else names.set(name, i);
  });
  return problems;
}
