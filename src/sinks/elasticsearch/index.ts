/**
 * The Elasticsearch sink: alerts, flow summaries, baseline snapshots and (optionally) every
 * normalised event, through bulk writes with per-document handling (see bulk.ts). On start it
 * checks the cluster has the APIs it needs and installs the index templates.
 */
import { Client } from '@elastic/elasticsearch';
import { z } from 'zod';
import {
  ElasticsearchConnectionSchema,
  elasticsearchUrl,
  resolveElasticsearchOptions,
  secretProblems,
} from '../../config/connections.js';
import { redactUrl } from '../../config/redact.js';
import { DEFAULT_RETRY, RetrySchema } from '../backoff.js';
import type { SinkSpec } from '../spec.js';
import type { Sink, SinkBatch, SinkContext } from '../types.js';
import { bulkWrite } from './bulk.js';
import { batchDocuments, type DocSelection } from './documents.js';
import { type IndexNames, indexNames } from './mappings.js';
import { checkApis, installTemplates } from './setup.js';

export const ElasticsearchSinkConfigSchema = z
  .object({
    type: z.literal('elasticsearch'),
    name: z.string().optional().describe('A name for logs and metrics; defaults to `elasticsearch`.'),
    connection: ElasticsearchConnectionSchema.default({ requestTimeoutMs: 30_000 }).describe(
      'URL, auth and TLS.',
    ),
    indexPrefix: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'expected a lowercase index name prefix')
      .default('egress-sentinel')
      .describe('Prefix of every index, alias, data stream and template.'),
    write: z
      .object({
        alerts: z
          .boolean()
          .default(true)
          .describe('Alerts, to <prefix>-alerts-YYYY.MM behind the alias <prefix>-alerts.'),
        flows: z
          .boolean()
          .default(true)
          .describe('Per-minute flow summaries, to the data stream <prefix>-flows.'),
        baselines: z
          .boolean()
          .default(true)
          .describe('Baseline snapshots, to <prefix>-baselines-YYYY.MM.DD behind an alias.'),
        events: z
          .boolean()
          .default(false)
          .describe('Every normalised event, to the data stream <prefix>-events (large).'),
      })
      .strict()
      .default({ alerts: true, flows: true, baselines: true, events: false }),
    installTemplates: z.boolean().default(true).describe('Install or update the index templates at start.'),
    shards: z.number().int().positive().default(1).describe('Primary shards for new indices.'),
    replicas: z.number().int().min(0).default(0).describe('Replicas for new indices (0 on a single node).'),
    retry: RetrySchema.default(DEFAULT_RETRY).describe('Retries of transient failures within one write.'),
  })
  .strict()
  .describe('Alerts, flow summaries, baselines and raw events in Elasticsearch.');

export type ElasticsearchSinkConfig = z.infer<typeof ElasticsearchSinkConfigSchema>;

export class ElasticsearchSink implements Sink {
  readonly name: string;
  readonly wantsEvents: boolean;
  readonly client: Client;
  readonly url: string;
  private readonly names: IndexNames;
  private readonly select: DocSelection;

  constructor(
    private readonly config: ElasticsearchSinkConfig,
    private readonly ctx: SinkContext,
  ) {
    this.name = config.name ?? 'elasticsearch';
    // For messages only (the client has the real one): never the user, password or query.
    this.url = redactUrl(elasticsearchUrl(config.connection, ctx.env), { keepPath: true });
    this.client = new Client(resolveElasticsearchOptions(config.connection, ctx.env));
    this.names = indexNames(config.indexPrefix);
    this.select = config.write;
    this.wantsEvents = config.write.events;
  }

  async start(): Promise<void> {
    const api = await checkApis(this.client, this.url);
    if (this.config.installTemplates) {
      // Retention (ILM policy or deleting old indices) is the setup command's job.
      await installTemplates(
        this.client,
        this.url,
        {
          prefix: this.config.indexPrefix,
          shards: this.config.shards,
          replicas: this.config.replicas,
          retentionDays: null,
        },
        api,
      );
    }
  }

  async write(batch: SinkBatch): Promise<void> {
    const docs = batchDocuments(batch, this.names, this.select);
    if (docs.length === 0) return;
    const outcome = await bulkWrite(
      this.client,
      docs,
      this.config.retry,
      this.ctx.signal,
      this.url,
      (attempt, pending, reason) => {
        this.ctx.onRetry?.(this.name);
        this.ctx.log('warn', 'Elasticsearch bulk write will be retried.', {
          sink: this.name,
          attempt,
          pending,
          error: reason,
        });
      },
    );
    for (const r of outcome.rejected) {
      this.ctx.log('error', 'Elasticsearch refused a document; it was dead-lettered.', {
        sink: this.name,
        id: r.doc.id,
        error: r.reason,
      });
      await this.ctx.deadLetter({
        component: this.name,
        reason: r.reason,
        origin: r.doc.id,
        raw: r.doc.doc,
      });
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

export const elasticsearchSinkSpec = {
  type: 'elasticsearch',
  redelivery: 'overwrites, not duplicates: every document has a deterministic `_id`',
  config: ElasticsearchSinkConfigSchema,
  example: {
    type: 'elasticsearch',
    connection: { url: 'https://elasticsearch:9200', apiKey: { env: 'ELASTICSEARCH_API_KEY' } },
  },
  create: (config, ctx) => new ElasticsearchSink(config, ctx),
  defaultName: () => 'elasticsearch',
  problems: (config, env) => [
    ...secretProblems(config.connection.apiKey, env, 'connection.apiKey'),
    ...secretProblems(config.connection.password, env, 'connection.password'),
  ],
} satisfies SinkSpec<typeof ElasticsearchSinkConfigSchema>;
