import type { Alert } from '../alerts/types.js';
import type { DeadLetter } from '../dead-letter.js';
import type { EgressEvent, EgressPath, Reporter } from '../identity/types.js';

/**
 * Traffic per (source identity, destination host, path, reporter, minute), on event time. Emitted
 * once, when the minute closes on the watermark; `id` is a hash of the group key and the minute so
 * a redelivery writes the same document. Events that arrive after their minute closed are summed
 * into a separate `late: true` document (its id also names the first late event's origin).
 */
export interface FlowSummary {
  '@timestamp': string;
  id: string;
  late: boolean;
  source: {
    key: string;
    principal: string | null;
    namespace: string | null;
    workload: string | null;
  };
  destination: { domain: string | null; registered_domain: string | null; port: number; external: boolean };
  network: { path: EgressPath; reporter: Reporter };
  /** Access-log lines for HTTP traffic (one per request). */
  requests: number;
  /** Access-log lines for TCP/TLS traffic (one per connection). */
  connections: number;
  bytes_up: number;
  bytes_down: number;
  /** Lines with a 5xx or 0 response code, or response flags set. */
  errors: number;
}

/**
 * What the pipeline knows about one (source, destination) pair at a point in event time:
 * cumulative counts and the per-active-minute request rate. Written periodically; `id` is a hash of
 * the pair and the snapshot time.
 */
export interface BaselineSnapshot {
  '@timestamp': string;
  id: string;
  source: { key: string };
  destination: { domain: string | null; registered_domain: string | null };
  first_seen: string;
  last_seen: string;
  active_minutes: number;
  requests: number;
  bytes_up: number;
  bytes_down: number;
  /** Mean and standard deviation of events per active minute. */
  rate_mean: number;
  rate_stddev: number;
}

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
