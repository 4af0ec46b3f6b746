import type { AccessRecord, ShipperMeta } from './types.js';

/**
 * Receives what the decoder found in one raw input (a file line or a Kafka message). One raw input
 * can hold several access lines (an OTLP export carries many log records). Implemented by the
 * pipeline with a reused object, so decoding allocates nothing per line for the callbacks.
 */
export interface DecodeSink {
  /** An access-log line was parsed into `record`; `meta` holds the envelope's Kubernetes metadata. Both are reused: copy what you keep. */
  access(record: AccessRecord, meta: ShipperMeta): void;
  /** A line that is not an access log (Envoy / pilot-agent message, YAML dump): counted, not analysed. */
  skipped(reason: string): void;
  /** A line that should have been an access log but could not be read: dead-lettered with `raw`. */
  malformed(reason: string, raw: string): void;
}
