/**
 * The seed's threat model end to end: three days of simulated mesh traffic (`egress-sentinel
 * simulate`: day/night load, a nightly backup, a metrics agent, pod restarts with reused IPs) with
 * every attack injected on the third day, in the TEXT and the JSON format, replayed through the
 * whole pipeline core (decode, normalise, detect, alerts) with the seed's policies. Each attack must
 * raise its rule within the time to detect (event time), and nothing may fire before the attacks.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import { DetectionConfigSchema } from '../../src/detect/config.js';
import { MeshConfigSchema } from '../../src/identity/config.js';
import { BatchProcessor } from '../../src/pipeline/processor.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { ATTACK_NAMES } from '../../src/simulate/attacks.js';
import type { EnvelopeName } from '../../src/simulate/envelope.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import type { LogFormat } from '../../src/simulate/render.js';

const DAY = 86_400_000;
const MINUTE = 60_000;
const START = Date.parse('2025-03-03T00:00:00Z');

const POLICY = `
kind: EgressPolicy
policies:
  - name: app-a-egress
    source: { namespace: app-a }
    allow: ["*.ibm.com"]
  - name: app-b-db
    source: { namespace: app-b }
    allow: ["mongo1.composedb.com"]
`;

function replay(format: LogFormat, envelope: EnvelopeName) {
  const traffic = generateTraffic({
    start: START,
    durationMs: 3 * DAY,
    seed: 7,
    rate: 40,
    format,
    envelope,
    attacks: [...ATTACK_NAMES],
    attackStart: START + 2 * DAY + 7 * MINUTE,
  });
  const processor = new BatchProcessor({
    detection: DetectionConfigSchema.parse({}),
    decoder: { format: 'auto' },
    mesh: MeshConfigSchema.parse({}),
    policies: new PolicySet(parsePolicyText(POLICY, 'policy.yaml')),
  });
  const alerts: Alert[] = [];
  let batch: string[] = [];
  let first = 1;
  const flush = () => {
    const base = first;
    processor.processLines(batch, 'sim', (i) => String(base + i));
    alerts.push(...processor.takeAlerts());
    first += batch.length;
    batch = [];
  };
  for (const line of traffic) {
    batch.push(line);
    if (batch.length === 4096) flush();
  }
  flush();
  processor.finish();
  alerts.push(...processor.takeAlerts());
  return { manifest: traffic.manifest, alerts, processor };
}

describe.each([
  ['text', 'fluent-bit'],
  ['json', 'filebeat'],
] as const)('seed attacks in the %s format (%s envelope)', (format, envelope) => {
  const { manifest, alerts, processor } = replay(format, envelope);
  const firstAttack = Math.min(...manifest.attacks.map((a) => Date.parse(a.start)));

  it('reads every line and dead-letters none', () => {
    expect(processor.counters.lines).toBeGreaterThan(100_000);
    expect(processor.counters.malformed).toBe(0);
  });

  it.each(
    manifest.attacks.map((a) => [a.name, a] as const),
  )('detects %s within the time to detect', (_name, attack) => {
    const start = Date.parse(attack.start);
    const limit = attack.rule === 'beaconing' ? 30 * MINUTE : 2 * MINUTE;
    const hit = alerts.find(
      (a) =>
        a.rule.id === attack.rule &&
        Date.parse(a['@timestamp']) >= start &&
        (attack.source.workload === 'unknown' ||
          attack.rule === 'gateway-silence' ||
          a.source.namespace === attack.source.namespace),
    );
    expect(hit, `${attack.rule} for ${attack.name}`).toBeDefined();
    expect(Date.parse(hit?.['@timestamp'] ?? '') - start).toBeLessThan(limit);
  });

  it('raises nothing on the benign days (learning day and the full day after it)', () => {
    const early = alerts.filter((a) => Date.parse(a['@timestamp']) < firstAttack);
    expect(early.map((a) => `${a['@timestamp']} ${a.rule.id}: ${a.reason}`)).toEqual([]);
  });

  it('raises only rules an attack explains while the attacks run', () => {
    const unexplained = alerts.filter((a) => {
      const t = Date.parse(a['@timestamp']);
      return !manifest.attacks.some(
        (m) =>
          (m.rule === a.rule.id || m.also.includes(a.rule.id)) &&
          t >= Date.parse(m.start) &&
          t <= Date.parse(m.end) + 15 * MINUTE,
      );
    });
    expect(unexplained.map((a) => `${a['@timestamp']} ${a.rule.id}: ${a.reason}`)).toEqual([]);
  });

  it('resolves the gateway silence under the id of the alert that fired', () => {
    const silence = alerts.filter(
      (a) => a.rule.id === 'gateway-silence' && a.evidence.dedupKey === 'gateway-silence/egress-gateway',
    );
    expect(silence[0]?.alert.status).toBe('firing');
    expect(silence.at(-1)?.alert.status).toBe('resolved');
    expect(new Set(silence.map((a) => a.alert.id)).size).toBe(1);
  });
});
