/** Source config schemas: `sources: [{type: file|stdin|kafka, ...}]`. */
import { z } from 'zod';
import { KafkaConnectionSchema } from '../config/connections.js';

export const FileSourceConfigSchema = z
  .object({
    type: z.literal('file'),
    path: z.string().min(1).describe('A log file; ".gz" files are decompressed while streaming.'),
    batchSize: z.number().int().positive().default(1000).describe('Lines per batch.'),
  })
  .strict()
  .describe('Lines of a file (plain or .gz), read to its end.');

export const StdinSourceConfigSchema = z
  .object({
    type: z.literal('stdin'),
    batchSize: z.number().int().positive().default(1000).describe('Lines per batch.'),
  })
  .strict()
  .describe('Lines of standard input, until it closes.');

export const KafkaSourceConfigSchema = z
  .object({
    type: z.literal('kafka'),
    connection: KafkaConnectionSchema.prefault({}).describe(
      'Brokers, client id, TLS and SASL, as for the Kafka sink: brokers default to $KAFKA_BROKERS, TLS and SASL also come from KAFKA_TLS / KAFKA_SASL_*, passwords only from an env variable or file.',
    ),
    groupId: z
      .string()
      .min(1)
      .default('egress-sentinel')
      .describe('Consumer group; offsets are committed only after a batch is acked.'),
    topics: z
      .array(z.string().min(1))
      .min(1)
      .describe('Topics carrying istio-proxy log lines (one line or one shipper record per message).'),
    fromBeginning: z
      .boolean()
      .default(false)
      .describe('Start at the earliest offset when the group has none.'),
    sessionTimeoutMs: z.number().int().positive().default(30000).describe('Consumer session timeout.'),
    maxBytesPerPartition: z.number().int().positive().default(1048576).describe('Fetch size per partition.'),
    maxBatchesAhead: z
      .number()
      .int()
      .nonnegative()
      .default(1)
      .describe(
        "Batches (fetches) of one input partition read ahead of the slowest partition's event time, so not committed yet, before the partition is paused until the slowest catches up (as Kafka Streams' buffered.records.per.partition). Bounds what a restart reads again. 0: never pause.",
      ),
  })
  .strict()
  .describe('Messages of Kafka topics in a consumer group, offsets committed once a batch is delivered.');

export type FileSourceConfig = z.infer<typeof FileSourceConfigSchema>;
export type StdinSourceConfig = z.infer<typeof StdinSourceConfigSchema>;
export type KafkaSourceConfig = z.infer<typeof KafkaSourceConfigSchema>;
