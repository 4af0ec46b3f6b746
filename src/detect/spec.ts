/**
 * What a detector module exports: its rule id, a one-line summary, the zod schema of its settings
 * (under `detection.detectors.<rule id>` in the pipeline config) and a constructor.
 */
import type { z } from 'zod';
import type { RuleId, Severity } from '../alerts/types.js';
import type { EgressEvent } from '../identity/types.js';
import type { PolicySet } from '../policy/policy-set.js';
import type { KeyTable } from './state/key-table.js';
import type { DetectionState } from './state/store.js';
import type { Detector, Finding } from './types.js';

export interface DetectorContext {
  state: DetectionState;
  policies: PolicySet;
  /** Global learning period (ms): no anomaly findings before `state.startTime + learningPeriodMs`. */
  learningPeriodMs: number;
  maxKeys: number;
  /** Register a table whose evictions are reported as `state-eviction`. */
  trackTable(table: KeyTable<unknown>): void;
}

export interface DetectorSpec<C> {
  readonly ruleId: RuleId;
  readonly summary: string;
  readonly config: z.ZodType<C>;
  create(config: C, ctx: DetectorContext): Detector;
}

/** A finding about one event; copies what it keeps from the (reusable) event. */
export function eventFinding(
  event: EgressEvent,
  ruleId: RuleId,
  severity: Severity,
  dedupKey: string,
  reason: string,
  evidence: Record<string, unknown>,
): Finding {
  return {
    ruleId,
    severity,
    time: event.time,
    dedupKey,
    reason,
    source: { ...event.source },
    destination: { ...event.destination },
    path: event.path,
    protocol: event.protocol,
    evidence: {
      origin: event.origin,
      requestId: event.requestId,
      // Which join made this connection of two legs (detect/join.ts), and the other leg.
      ...(event.join == null
        ? {}
        : {
            join: {
              by: event.join.by,
              otherLeg: event.join.otherOrigin,
              skewMs: event.join.skewMs,
              ...(event.join.outerOrigin === undefined ? {} : { outerLeg: event.join.outerOrigin }),
              ...(event.join.hostFromEarlierLegs === true
                ? { hostFrom: 'earlier gateway legs to this IP' }
                : {}),
            },
          }),
      ...evidence,
    },
  };
}

/** `host` else `ip` else "?", for reasons and dedup keys. */
export function destName(event: EgressEvent): string {
  return event.destination.host ?? event.destination.ip ?? '?';
}

/** Human-readable bytes: 12.3 MB. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${Math.round(n)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function isoMinute(t: number): string {
  return new Date(t).toISOString().slice(0, 16).replace('T', ' ');
}
