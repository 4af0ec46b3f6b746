/**
 * Every registered detector honours the component contract (as Vector's assert_*_compliance does
 * for its components): its spec describes itself completely, its settings default and reject
 * unknown keys, it builds from its defaults, and the findings it raises carry its own rule ids at
 * the severity its spec states.
 */
import { describe, expect, it } from 'vitest';
import { coreProcessor, replayThroughCore } from '../../bench/core-replay.js';
import { parseDuration } from '../../src/config/duration.js';
import { DetectionConfigSchema } from '../../src/detect/config.js';
import { settingRows } from '../../src/detect/reference.js';
import { DETECTORS } from '../../src/detect/registry.js';
import { RULE_IDS, RULES, SEVERITIES, STATE_EVICTION_RULE } from '../../src/detect/rules.js';
import type { DetectorContext, DetectorSpec } from '../../src/detect/spec.js';
import { DetectionState } from '../../src/detect/state/store.js';
import type { Finding } from '../../src/detect/types.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { ATTACK_NAMES } from '../../src/simulate/attacks.js';
import { generateTraffic } from '../../src/simulate/generate.js';

const specs = Object.entries(DETECTORS) as [string, DetectorSpec<{ enabled: boolean }>][];

function context(): DetectorContext {
  return {
    state: new DetectionState({ maxKeys: 1000, tzOffsetMs: 0 }),
    policies: new PolicySet([]),
    learningPeriodMs: 0,
    maxKeys: 1000,
    trackTable: () => {},
  };
}

describe('rule ids', () => {
  it('are unique across every detector and the engine', () => {
    expect(new Set(RULE_IDS).size).toBe(RULE_IDS.length);
    expect(RULE_IDS).toContain(STATE_EVICTION_RULE.id);
  });
});

describe.each(specs)('detector %s', (name, spec) => {
  it('is registered under its own rule id', () => {
    expect(spec.rules[0].id).toBe(name);
  });

  it('describes itself: a one-line summary and, per rule, a name, severity, realert window and when it fires', () => {
    expect(spec.summary.trim()).not.toBe('');
    expect(spec.summary).not.toContain('\n');
    for (const rule of spec.rules) {
      expect(rule.id).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(rule.name.trim()).not.toBe('');
      expect(SEVERITIES).toContain(rule.severity);
      expect(rule.firesWhen.trim()).not.toBe('');
      if (rule.realert !== undefined) expect(parseDuration(rule.realert)).toBeGreaterThan(0);
    }
  });

  it('has settings that all default, are all described, and include `enabled`', () => {
    const defaults = spec.config.parse({});
    expect(defaults.enabled).toBe(true);
    const undescribed = settingRows(spec.config).filter((r) => r.description.trim() === '');
    expect(undescribed.map((r) => r.path)).toEqual([]);
  });

  it('rejects an unknown setting, naming it', () => {
    const result = spec.config.safeParse({ enabeld: false });
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain('enabeld');
  });

  it('is configured under detection.detectors with its own defaults', () => {
    const detection = DetectionConfigSchema.parse({});
    expect(detection.detectors[name as keyof typeof DETECTORS]).toEqual(spec.config.parse({}));
    const off = DetectionConfigSchema.parse({ detectors: { [name]: { enabled: false } } });
    expect(off.detectors[name as keyof typeof DETECTORS].enabled).toBe(false);
  });

  it('builds from its defaults into a detector of its own rule that holds no state yet', () => {
    const detector = spec.create(spec.config.parse({}), context());
    expect(spec.rules.map((r) => r.id)).toContain(detector.ruleId);
    expect(detector.stateSize()).toBe(0);
    const findings: Finding[] = [];
    detector.advance(Date.parse('2025-03-03T00:00:00Z'), (f) => findings.push(f));
    expect(findings).toEqual([]);
  });
});

describe('findings of a day with every attack', () => {
  const DAY = 86_400_000;
  const START = Date.parse('2025-03-03T00:00:00Z');
  const findings: Finding[] = [];
  const traffic = generateTraffic({
    start: START,
    durationMs: 2 * DAY,
    seed: 5,
    rate: 30,
    format: 'json',
    attacks: [...ATTACK_NAMES],
    attackStart: START + DAY + 30 * 60_000,
  });
  replayThroughCore(coreProcessor({ onFinding: (f) => findings.push(f) }), traffic, 'file:compliance.log');
  const rules = new Map(RULES.map((r) => [r.id, r]));

  it('raise most rules (the check below is not vacuous)', () => {
    expect(new Set(findings.map((f) => f.ruleId)).size).toBeGreaterThanOrEqual(8);
  });

  it("carry a registered rule id at the severity its spec states (or one its spec's note explains)", () => {
    const wrong = findings.filter((f) => {
      const rule = rules.get(f.ruleId);
      return rule === undefined || (f.severity !== rule.severity && rule.severityNote === undefined);
    });
    expect(wrong.map((f) => `${f.ruleId} ${f.severity}`)).toEqual([]);
  });
});
