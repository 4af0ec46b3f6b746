import { z } from 'zod';

export const ScaleConfigSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        'Run as one of several instances: re-key events by source identity and checkpoint state to Kafka. Needs one kafka source.',
      ),
    partitions: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(12)
      .describe(
        'Partitions of the internal by-source and changelog topics: the most instances that share the detection work. Fixed once the topics exist.',
      ),
    topicPrefix: z
      .string()
      .regex(/^[a-zA-Z0-9._-]+$/)
      .optional()
      .describe(
        'Prefix of the internal topics (default: the pipeline name): <prefix>-events-by-source, <prefix>-state-changelog, <prefix>-gateway-heartbeat.',
      ),
    replicationFactor: z
      .number()
      .int()
      .min(1)
      .default(1)
      .describe('Replication factor of the internal topics (3 in production).'),
    commitIntervalMs: z
      .number()
      .int()
      .min(50)
      .default(1000)
      .describe(
        'How often each partition checkpoints its changed state to the changelog and then commits its offsets (Kafka Streams commit.interval.ms).',
      ),
  })
  .strict();

export type ScaleConfig = z.infer<typeof ScaleConfigSchema>;
