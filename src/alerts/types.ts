/**
 * Alerts, aligned with Elastic Common Schema field names where ECS has one. Alerts are built once
 * per finding (not on the hot path), so plain objects are fine here.
 */
import type { RuleId, Severity } from '../detect/rules.js';
import type { EgressPath } from '../identity/types.js';

// Rule ids and severities belong to detection (detect/rules.ts, from the detectors' specs).
export type { RuleId, Severity };

export interface Alert {
  '@timestamp': string;
  alert: {
    /** Deterministic: the same finding on a replay or a redelivery gives the same id. */
    id: string;
    /** `firing`, or `resolved` when a condition clears (PagerDuty resolve). */
    status: 'firing' | 'resolved';
    /** Repeats suppressed within the realert window, counted here. */
    repeats: number;
    first_seen: string;
    last_seen: string;
  };
  rule: { id: RuleId; name: string };
  severity: Severity;
  reason: string;
  source: {
    principal: string | null;
    namespace: string | null;
    workload: string | null;
    pod: string | null;
    ip: string | null;
  };
  destination: {
    domain: string | null;
    registered_domain: string | null;
    ip: string | null;
    port: number | null;
  };
  network: { path: EgressPath | null; protocol: string | null };
  /** The numbers behind it: baseline, observed value, sample request ids or connections, policy name. */
  evidence: Record<string, unknown>;
}
