/** Config sections owned by delivery: how batches are acknowledged and retried, and flow summaries. */
import { z } from 'zod';

export const DeliveryConfigSchema = z
  .object({
    deadLetterFile: z
      .string()
      .min(1)
      .default('dead-letters/sinks.jsonl')
      .describe(
        'JSON-lines file for what a sink gave up on (a document Elasticsearch refused, a webhook 400), with the reason.',
      ),
    retryInitialMs: z
      .number()
      .int()
      .positive()
      .default(500)
      .describe('First pause after a sink failed a whole batch; doubles.'),
    retryMaxMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('Longest pause between retries of a failed batch.'),
    shutdownGraceMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe(
        'On SIGTERM, how long the batch in flight may keep retrying before the pipeline exits without committing it.',
      ),
  })
  .strict();

export const FlowsConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Build per-minute flow summaries and baseline snapshots.'),
    allowedLatenessMs: z
      .number()
      .int()
      .min(0)
      .default(30_000)
      .describe('How long a minute stays open for out-of-order events before its summary is written.'),
    snapshotIntervalMs: z
      .number()
      .int()
      .min(0)
      .default(3_600_000)
      .describe('Event-time period of baseline snapshots; 0 disables them.'),
    holdAcks: z
      .boolean()
      .default(true)
      .describe(
        'Commit a batch only once the flow minutes it fed are written, so a crash never loses part of a minute.',
      ),
  })
  .strict();

export type DeliveryConfig = z.infer<typeof DeliveryConfigSchema>;
export type FlowsConfig = z.infer<typeof FlowsConfigSchema>;
