/**
 * What a detector module exports (after Vector's component spec and Redpanda Connect's ConfigSpec):
 * the rules it raises (id, name, default severity and realert window, when it fires), a one-line
 * summary, the zod schema of its settings (under `detection.detectors.<its name>` in the pipeline
 * config) and a constructor. The registry, the config schema, the alert names and
 * docs/detection.md's tables are all derived from these, so a new detector is one module plus one
 * registry line (CONTRIBUTING.md).
 */
import type { z } from 'zod';
import type { EgressEvent } from '../identity/types.js';
import type { PolicySet } from '../policy/policy-set.js';
import type { RuleId, Severity } from './rules.js';
import type { KeyTable } from './state/key-table.js';
import type { DetectionState } from './state/store.js';
import type { Detector, Finding } from './types.js';

/** One rule: what its alerts say in `rule.id` / `rule.name` and how they are de-duplicated. */
export interface RuleSpec<Id extends string = string> {
  /** `rule.id` of its alerts; the key of `realertPerRule`, `severity`, exceptions and webhook routes. */
  readonly id: Id;
  /** `rule.name` of its alerts. */
  readonly name: string;
  /** Severity of its findings (`detection.severity` overrides it; `severityNote` says when it varies). */
  readonly severity: Severity;
  /** When a finding has another severity than `severity` (shown in the docs). */
  readonly severityNote?: string;
  /** Realert window ("24h") unless `realertPerRule` sets one; absent: the global `realert`. */
  readonly realert?: string;
  /** When it fires (the docs' rules table): what it compares, against what, and what evidence says. */
  readonly firesWhen: string;
}

export interface DetectorContext {
  state: DetectionState;
  policies: PolicySet;
  /** Global learning period (ms): no anomaly findings before `state.startTime + learningPeriodMs`. */
  learningPeriodMs: number;
  maxKeys: number;
  /** Register a table whose evictions are reported as `state-eviction`. */
  trackTable(table: KeyTable<unknown>): void;
}

/**
 * A detector's self-description. `Id` is the union of its rule ids: the type of every rule id in
 * the project is derived from the registry (rules.ts).
 */
export interface DetectorSpec<C, Id extends string = string> {
  /** The rules it raises; the first is its own (its name in the registry, the key of its settings). */
  readonly rules: readonly [RuleSpec<Id>, ...RuleSpec<Id>[]];
  /** One line: what it finds. */
  readonly summary: string;
  /**
   * Its settings (`enabled` plus its own), every field with a default and a `.describe()`; strict,
   * so a misspelt key is an error naming it.
   */
  readonly config: z.ZodType<C>;
  /** The live detector for parsed settings; called once per pipeline (per partition when scaled). */
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
              // The other leg came late (behind the watermark) and this one stands for the connection.
              ...(event.join.late === true ? { late: true } : {}),
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
