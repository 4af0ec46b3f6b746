/** Source config schemas: `sources: [{type: file|stdin|kafka, ...}]`. */
import { z } from 'zod';

export const FileSourceConfigSchema = z
  .object({
    type: z.literal('file'),
    path: z.string().min(1).describe('A log file; ".gz" files are decompressed while streaming.'),
    batchSize: z.number().int().positive().default(1000).describe('Lines per batch.'),
  })
  .strict();

export const StdinSourceConfigSchema = z
  .object({
    type: z.literal('stdin'),
    batchSize: z.number().int().positive().default(1000).describe('Lines per batch.'),
  })
  .strict();

export const KafkaSourceConfigSchema = z
  .object({
    type: z.literal('kafka'),
    brokers: z
      .array(z.string().min(1))
      .min(1)
      .default(['127.0.0.1:9092'])
      .describe('Bootstrap brokers, host:port.'),
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
    clientId: z.string().default('egress-sentinel').describe('Kafka client id.'),
    ssl: z.boolean().default(false).describe('Use TLS to the brokers.'),
    sasl: z
      .object({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: z.string(),
        password: z.string(),
      })
      .strict()
      .optional()
      .describe('SASL credentials.'),
    sessionTimeoutMs: z.number().int().positive().default(30000).describe('Consumer session timeout.'),
    maxBytesPerPartition: z.number().int().positive().default(1048576).describe('Fetch size per partition.'),
  })
  .strict();

export type FileSourceConfig = z.infer<typeof FileSourceConfigSchema>;
export type StdinSourceConfig = z.infer<typeof StdinSourceConfigSchema>;
export type KafkaSourceConfig = z.infer<typeof KafkaSourceConfigSchema>;
