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
    partitionBy: z
      .enum(['namespace', 'identity'])
      .default('namespace')
      .describe(
        'Key of the by-source topic: namespace (default; a sidecar leg and the gateway leg of the same connection always share a partition, so gateway-silence can pair them) or identity (namespace/workload, else principal: finer load spreading for a mesh with one huge namespace, but a gateway leg whose principal was not yet learned lands apart from its sidecar leg). Fixed once the topics exist, like partitions.',
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
