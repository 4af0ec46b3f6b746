import type { Destination, EgressEvent, EgressPath, SourceIdentity } from '../identity/types.js';
import type { RuleId, Severity } from './rules.js';

/**
 * What a detector reports. The alerts stage turns findings into Alerts: it derives the
 * deterministic `alert.id` from (ruleId, dedupKey, the time bucket), suppresses repeats and applies
 * exceptions. Detectors never build Alerts themselves.
 */
export interface Finding {
  ruleId: RuleId;
  severity: Severity;
  /** Event time (ms) at which the finding fired. */
  time: number;
  /** Identifies "the same condition" for de-duplication, e.g. `ns/app-a -> mongo1.composedb.com`. */
  dedupKey: string;
  reason: string;
  source: SourceIdentity;
  destination: Destination | null;
  path: EgressPath | null;
  protocol: string | null;
  evidence: Record<string, unknown>;
  /** `resolved` when a condition that fired has cleared (gateway-silence recovery). */
  status?: 'firing' | 'resolved';
}

export type Emit = (finding: Finding) => void;

/**
 * A detector. Called on event time, in order: the engine holds events back until the watermark
 * passes them (allowed lateness), so `observe` sees non-decreasing `event.time` and a replay gives
 * the same findings as the live stream. Synchronous: never awaits, never does I/O.
 */
export interface Detector {
  readonly ruleId: RuleId;
  /** One event, in event-time order. Must not keep `event` (it may be reused): copy what it keeps. */
  observe(event: EgressEvent, emit: Emit): void;
  /**
   * Optional: an event behind the watermark (late, not observed, dead-lettered) that a detector may
   * still count in a window it has not judged yet. Emits nothing; must not keep `event`.
   */
  observeLate?(event: EgressEvent): void;
  /** Event time has advanced to `watermark`: close windows, fire time-based findings, evict. */
  advance(watermark: number, emit: Emit): void;
  /** Number of keys held, for metrics and the state cap. */
  stateSize(): number;
}
