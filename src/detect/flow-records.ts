/** The records detect/flows.ts writes: per-minute traffic and per-pair baselines, for the sinks. */
import type { EgressPath, Reporter } from '../identity/types.js';

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
