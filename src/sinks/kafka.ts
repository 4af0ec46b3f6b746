/**
 * The alert feed: each alert as JSON on a Kafka topic, keyed by `alert.id` so a consumer (or a
 * compacted topic) sees one key per alert. Idempotent producer with acks from all in-sync replicas:
 * `write` resolves only when the broker committed every message. A redelivered batch re-sends the
 * same ids, so the feed is at-least-once with stable keys.
 */
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { z } from 'zod';
import {
  KafkaConnectionSchema,
  kafkaBrokers,
  resolveKafkaConfig,
  secretProblems,
} from '../config/connections.js';
import { DEFAULT_ALERT_TOPIC } from '../config/defaults.js';
import { SentinelError } from '../errors.js';
import type { SinkSpec } from './spec.js';
import type { Sink, SinkBatch, SinkContext } from './types.js';

export const KafkaSinkConfigSchema = z
  .object({
    type: z.literal('kafka'),
    name: z.string().optional().describe('A name for logs and metrics; defaults to `kafka:<topic>`.'),
    topic: z.string().min(1).default(DEFAULT_ALERT_TOPIC).describe('Topic for the alert feed.'),
    connection: KafkaConnectionSchema.default({ clientId: 'egress-sentinel' }).describe(
      'Brokers, TLS and SASL.',
    ),
    createTopic: z
      .object({
        partitions: z.number().int().positive().default(3).describe('Partitions of the created topic.'),
        replicationFactor: z
          .number()
          .int()
          .positive()
          .default(1)
          .describe('Replication factor of the created topic (3 in production).'),
      })
      .strict()
      .optional()
      .describe('Create the topic at start when it does not exist.'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('How long to wait for the brokers per batch.'),
  })
  .strict()
  .describe('Alerts as JSON on a Kafka topic, keyed by alert.id.');

export type KafkaSinkConfig = z.infer<typeof KafkaSinkConfigSchema>;

/** A message for a person about a kafkajs error, naming the brokers. */
export function describeKafkaError(err: unknown, brokers: readonly string[]): SentinelError {
  const e = err as Error & { name?: string };
  const name = e?.name ?? '';
  const list = brokers.join(',');
  if (name.includes('SASL') || /authentication/i.test(e?.message ?? ''))
    return new SentinelError('ESN_AUTH', `Kafka ${list} refused the credentials: ${e.message}`, {
      cause: err,
      where: list,
    });
  if (
    name.includes('Connection') ||
    name.includes('NumberOfRetriesExceeded') ||
    /ECONNREFUSED|ENOTFOUND|timed? ?out/i.test(e?.message ?? '')
  )
    return new SentinelError('ESN_SERVER_UNREACHABLE', `Cannot reach Kafka at ${list}: ${e.message}`, {
      cause: err,
      where: list,
    });
  return new SentinelError('ESN_SINK', `Kafka ${list}: ${e?.message ?? String(err)}`, {
    cause: err,
    where: list,
  });
}

export class KafkaSink implements Sink {
  readonly name: string;
  private readonly kafka: Kafka;
  private readonly brokers: string[];
  private producer: Producer | null = null;

  constructor(
    private readonly config: KafkaSinkConfig,
    private readonly ctx: SinkContext,
  ) {
    this.name = config.name ?? `kafka:${config.topic}`;
    this.brokers = kafkaBrokers(config.connection, ctx.env);
    this.kafka = new Kafka({
      ...resolveKafkaConfig(config.connection, ctx.env),
      logLevel: logLevel.NOTHING,
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5_000 },
    });
  }

  async start(): Promise<void> {
    try {
      if (this.config.createTopic !== undefined) {
        const admin = this.kafka.admin();
        await admin.connect();
        try {
          const existing = await admin.listTopics();
          if (!existing.includes(this.config.topic)) {
            await admin.createTopics({
              waitForLeaders: true,
              topics: [
                {
                  topic: this.config.topic,
                  numPartitions: this.config.createTopic.partitions,
                  replicationFactor: this.config.createTopic.replicationFactor,
                },
              ],
            });
          }
        } finally {
          await admin.disconnect();
        }
      }
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: true,
      });
      await producer.connect();
      this.producer = producer;
    } catch (err) {
      throw describeKafkaError(err, this.brokers);
    }
  }

  async write(batch: SinkBatch): Promise<void> {
    if (batch.alerts.length === 0) return;
    if (this.producer === null)
      throw new SentinelError('ESN_SINK', 'The Kafka sink was not started.', { where: this.name });
    try {
      await this.producer.send({
        topic: this.config.topic,
        acks: -1,
        timeout: this.config.timeoutMs,
        messages: batch.alerts.map((a) => ({
          key: a.alert.id,
          value: JSON.stringify(a),
          headers: { 'rule.id': a.rule.id, severity: a.severity },
        })),
      });
    } catch (err) {
      const e = describeKafkaError(err, this.brokers);
      this.ctx.log('warn', 'Kafka alert feed write failed.', { sink: this.name, error: e.message });
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.producer?.disconnect();
    this.producer = null;
  }
}

export const kafkaSinkSpec = {
  type: 'kafka',
  redelivery: 'sent again with the same key (`alert.id`): at least once, stable keys',
  config: KafkaSinkConfigSchema,
  example: { type: 'kafka', topic: 'egress-alerts', connection: { brokers: ['kafka:9092'] } },
  create: (config, ctx) => new KafkaSink(config, ctx),
  defaultName: (config) => `kafka:${config.topic}`,
  problems: (config, env) =>
    secretProblems(config.connection.sasl?.password, env, 'connection.sasl.password'),
} satisfies SinkSpec<typeof KafkaSinkConfigSchema>;
