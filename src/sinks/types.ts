import type { Alert } from '../alerts/types.js';
import type { DeadLetter } from '../dead-letter.js';
import type { BaselineSnapshot, FlowSummary } from '../detect/flow-records.js';
import type { EgressEvent } from '../identity/types.js';

export type { BaselineSnapshot, FlowSummary };

/**
 * A sink delivers what one input batch produced. `write` resolves only when the sink durably
 * accepted the whole batch (so the source may commit), is idempotent on document ids (alert.id),
 * retries transient failures itself, and rejects only when it gave up: the pipeline then pauses
 * and retries the batch instead of losing it. What can never succeed (a document the server
 * refuses) goes to the dead-letter output with the reason, and does not block the batch.
 */
export interface SinkBatch {
  readonly alerts: readonly Alert[];
  readonly flows: readonly FlowSummary[];
  readonly baselines: readonly BaselineSnapshot[];
  /** Every normalised event, only when a sink asked for them (`wantsEvents`). */
  readonly events: readonly EgressEvent[];
}

export interface Sink {
  readonly name: string;
  /** True when this sink stores raw events: the pipeline then copies them into `SinkBatch.events`. */
  readonly wantsEvents?: boolean;
  /** Connect and check the server is usable; errors name the server and what is wrong. */
  start(): Promise<void>;
  write(batch: SinkBatch): Promise<void>;
  /** Flush and release connections. */
  close(): Promise<void>;
}

/** Logger shape the sinks use: key/value fields, message a sentence. Never pass secrets. */
export type LogFn = (
  level: 'debug' | 'info' | 'warn' | 'error',
  message: string,
  fields?: Record<string, unknown>,
) => void;

export interface SinkContext {
  /** Records what a sink gave up on (`component`: the sink's name); resolves once the record is stored. */
  deadLetter(record: DeadLetter): Promise<void>;
  log: LogFn;
  /** Environment for secrets and overrides (tests pass their own). */
  env: NodeJS.ProcessEnv;
  /** Aborted on shutdown: retry loops stop waiting and give up. */
  signal: AbortSignal;
  /** Called once per retried attempt (metrics). */
  onRetry?: (sink: string) => void;
}

export const EMPTY_BATCH: SinkBatch = { alerts: [], flows: [], baselines: [], events: [] };
