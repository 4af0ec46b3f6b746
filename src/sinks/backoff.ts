/** Exponential backoff with full jitter, and a sleep that an abort (shutdown) cuts short. */
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';

export const RetrySchema = z
  .object({
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .default(6)
      .describe(
        'Attempts per write before the sink gives up (the pipeline then pauses and retries the batch).',
      ),
    initialDelayMs: z
      .number()
      .int()
      .positive()
      .default(200)
      .describe('Delay before the first retry; doubles each time.'),
    maxDelayMs: z.number().int().positive().default(10_000).describe('Upper bound of one delay.'),
  })
  .strict();

export type RetryConfig = z.infer<typeof RetrySchema>;

export const DEFAULT_RETRY: RetryConfig = { maxAttempts: 6, initialDelayMs: 200, maxDelayMs: 10_000 };

/** Delay before retry number `attempt` (1-based): uniform in [d/2, d] with d = initial * 2^(attempt-1), capped. */
export function backoffDelay(
  attempt: number,
  retry: Pick<RetryConfig, 'initialDelayMs' | 'maxDelayMs'>,
  random = Math.random,
): number {
  const d = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(d / 2 + random() * (d / 2));
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch {
    // aborted: the caller checks the signal
  }
}
