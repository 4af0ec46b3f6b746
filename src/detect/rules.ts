/**
 * Every rule id, name, default severity and realert window, derived from the detectors' specs
 * (registry.ts) plus the engine's own rule. Detection owns rule ids: alerts and sinks import them
 * from here.
 */
import { parseDuration } from '../config/duration.js';
import { DETECTORS } from './registry.js';
import type { RuleSpec } from './spec.js';

export type Severity = 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const satisfies readonly Severity[];

type Detectors = typeof DETECTORS;
/** The rule ids the registered detectors raise. */
export type DetectorRuleId = {
  [K in keyof Detectors]: Detectors[K]['rules'][number]['id'];
}[keyof Detectors];

/** Raised by the engine itself when a state table evicts keys (engine.ts). */
export const STATE_EVICTION_RULE = {
  id: 'state-eviction',
  name: 'Detection state evicted',
  severity: 'medium',
  firesWhen:
    'a state table (per detector, per source identity) reached `maxKeys` or `maxKeysPerIdentity` and evicted its least recently seen keys: detection is blind to what they held',
} as const satisfies RuleSpec;

export type RuleId = DetectorRuleId | typeof STATE_EVICTION_RULE.id;

/** Every rule, in registry order, the engine's last. */
export const RULES: readonly RuleSpec<RuleId>[] = [
  ...Object.values(DETECTORS).flatMap((d): readonly RuleSpec<RuleId>[] => d.rules),
  STATE_EVICTION_RULE,
];

/** The rule ids, for `z.enum`. */
export const RULE_IDS = RULES.map((r) => r.id) as [RuleId, ...RuleId[]];

const RULE_BY_ID = new Map<string, RuleSpec<RuleId>>(RULES.map((r) => [r.id, r]));

export function ruleSpec(id: RuleId): RuleSpec<RuleId> {
  return RULE_BY_ID.get(id) as RuleSpec<RuleId>;
}

/** `rule.name` of each rule's alerts. */
export const RULE_NAMES = Object.fromEntries(RULES.map((r) => [r.id, r.name])) as Record<RuleId, string>;

/** Realert windows (ms) of the rules whose spec sets one; the others use `detection.realert`. */
export const DEFAULT_REALERT_PER_RULE: Partial<Record<RuleId, number>> = Object.fromEntries(
  RULES.flatMap((r) => (r.realert === undefined ? [] : [[r.id, parseDuration(r.realert)]])),
);
