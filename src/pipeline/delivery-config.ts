/** Config sections owned by delivery: how batches are acknowledged and retried, and flow summaries. */
import { z } from 'zod';

export const DeliveryConfigSchema = z
  .object({
    dead_letter_file: z
      .string()
      .min(1)
      .default('dead-letters/sinks.jsonl')
      .describe(
        'JSON-lines file for what a sink gave up on (a document Elasticsearch refused, a webhook 400), with the reason.',
      ),
    retry_initial_ms: z
      .number()
      .int()
      .positive()
      .default(500)
      .describe('First pause after a sink failed a whole batch; doubles.'),
    retry_max_ms: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('Longest pause between retries of a failed batch.'),
    shutdown_grace_ms: z
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
    allowed_lateness_ms: z
      .number()
      .int()
      .min(0)
      .default(30_000)
      .describe('How long a minute stays open for out-of-order events before its summary is written.'),
    snapshot_interval_ms: z
      .number()
      .int()
      .min(0)
      .default(3_600_000)
      .describe('Event-time period of baseline snapshots; 0 disables them.'),
    hold_acks: z
      .boolean()
      .default(true)
      .describe(
        'Commit a batch only once the flow minutes it fed are written, so a crash never loses part of a minute.',
      ),
  })
  .strict();

export type DeliveryConfig = z.infer<typeof DeliveryConfigSchema>;
export type FlowsConfig = z.infer<typeof FlowsConfigSchema>;
