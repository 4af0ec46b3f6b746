/**
 * Shipper envelopes around an access line. The decoder parses a JSON envelope once and hands the
 * object to the first envelope whose `matches` says yes; the envelope fills the reused ShipperMeta
 * and passes each inner payload (a line, or an already-parsed access object) to the sink.
 */
import type { ShipperMeta } from '../types.js';

export interface InnerSink {
  /** An inner payload that is still text (TEXT line, JSON line, CRI line). */
  line(payload: string, meta: ShipperMeta): void;
  /** An inner access record already parsed as part of the envelope (Fluent Bit Merge_Log). */
  object(record: Record<string, unknown>, meta: ShipperMeta): void;
  /** The envelope itself is broken (wrong types): dead-letter the whole raw input. */
  broken(reason: string): void;
}

export interface JsonEnvelope {
  readonly name: string;
  /** Cheap shape check; the first match wins. */
  matches(o: Record<string, unknown>): boolean;
  open(o: Record<string, unknown>, meta: ShipperMeta, sink: InnerSink): void;
}

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
