/**
 * Every sink type: its config schema (a member of the `sinks` discriminated union), a constructor,
 * and cross-field checks that need the environment or the file system. A new sink is one module and
 * one line here.
 */
import { z } from 'zod';
import { secretProblems } from '../config/connections.js';
import { ElasticsearchSink, ElasticsearchSinkConfigSchema } from './elasticsearch/index.js';
import { FileSink, FileSinkConfigSchema } from './file.js';
import { KafkaSink, KafkaSinkConfigSchema } from './kafka.js';
import { StdoutSink, StdoutSinkConfigSchema } from './stdout.js';
import type { Sink, SinkContext } from './types.js';
import {
  PagerDutySinkConfigSchema,
  SlackSinkConfigSchema,
  WebhookSink,
  WebhookSinkConfigSchema,
  webhookProblems,
} from './webhook/index.js';

export const SINK_TYPES = ['stdout', 'file', 'kafka', 'elasticsearch', 'webhook', 'pagerduty', 'slack'];

export const SinkConfigSchema = z.discriminatedUnion(
  'type',
  [
    StdoutSinkConfigSchema,
    FileSinkConfigSchema,
    KafkaSinkConfigSchema,
    ElasticsearchSinkConfigSchema,
    WebhookSinkConfigSchema,
    PagerDutySinkConfigSchema,
    SlackSinkConfigSchema,
  ],
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

export function createSink(config: SinkConfig, ctx: SinkContext): Sink {
  switch (config.type) {
    case 'stdout':
      return new StdoutSink(config);
    case 'file':
      return new FileSink(config);
    case 'kafka':
      return new KafkaSink(config, ctx);
    case 'elasticsearch':
      return new ElasticsearchSink(config, ctx);
    case 'webhook':
    case 'pagerduty':
    case 'slack':
      return new WebhookSink(config, ctx);
  }
}

/** Problems zod cannot see (unset secret variables, unreadable secret files), each prefixed with its path. */
export function sinkProblems(sinks: readonly SinkConfig[], env: NodeJS.ProcessEnv, path = 'sinks'): string[] {
  const problems: string[] = [];
  const names = new Map<string, number>();
  sinks.forEach((s, i) => {
    const at = `${path}[${i}] (${s.type})`;
    const own: string[] = [];
    if (s.type === 'webhook' || s.type === 'pagerduty' || s.type === 'slack')
      own.push(...webhookProblems(s, env));
    if (s.type === 'elasticsearch') {
      own.push(...secretProblems(s.connection.apiKey, env, 'connection.apiKey'));
      own.push(...secretProblems(s.connection.password, env, 'connection.password'));
    }
    if (s.type === 'kafka')
      own.push(...secretProblems(s.connection.sasl?.password, env, 'connection.sasl.password'));
    for (const p of own) problems.push(`${at}.${p}`);
    const name =
      s.name ?? (s.type === 'file' ? `file:${s.path}` : s.type === 'kafka' ? `kafka:${s.topic}` : s.type);
    const seen = names.get(name);
    if (seen !== undefined)
      problems.push(
        `${at}.name: "${name}" is also the name of sinks[${seen}]; give each sink a distinct name`,
      );
    else names.set(name, i);
  });
  return problems;
}
