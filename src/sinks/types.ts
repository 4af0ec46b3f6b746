import type { Alert } from '../alerts/types.js';

/**
 * A sink delivers what one input batch produced. `write` resolves only when the sink durably
 * accepted the whole batch (so the source may commit), is idempotent on document ids (alert.id),
 * retries transient failures itself, and rejects only when it gave up: the pipeline then pauses
 * and retries the batch instead of losing it.
 */
export interface SinkBatch {
  readonly alerts: readonly Alert[];
}

export interface Sink {
  readonly name: string;
  /** Connect and check the server is usable; errors name the server and what is wrong. */
  start(): Promise<void>;
  write(batch: SinkBatch): Promise<void>;
  /** Flush and release connections. */
  close(): Promise<void>;
}
