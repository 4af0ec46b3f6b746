/**
 * The checks every seed-attack scenario makes (test/scenario): each attack raises its rule within
 * the time to detect, nothing fires before the attacks, and while they run only rules an attack
 * explains fire. Registers them as tests in the calling `describe`.
 */
import { expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import { ATTACK_NAMES, type ManifestAttack } from '../../src/simulate/attacks.js';
import type { Manifest, SimulateOptions } from '../../src/simulate/generate.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
const START = Date.parse('2025-03-03T00:00:00Z');

/** Three simulated days (seed 7, 40 requests a minute at peak), every seed attack on the third. */
export const THREE_DAYS_OF_ATTACKS = {
  start: START,
  durationMs: 3 * DAY,
  seed: 7,
  rate: 40,
  attacks: [...ATTACK_NAMES],
  attackStart: START + 2 * DAY + 7 * MINUTE,
} satisfies Partial<SimulateOptions>;

const describeAlert = (a: Alert) => `${a['@timestamp']} ${a.rule.id}: ${a.reason}`;

/**
 * `alsoCheck` adds the calling scenario's checks of each attack to its detection test (with the
 * attack's start time).
 */
export function itDetectsTheSeedAttacks(
  manifest: Manifest,
  alerts: readonly Alert[],
  alsoCheck?: (attack: ManifestAttack, start: number) => void,
): void {
  const firstAttack = Math.min(...manifest.attacks.map((a) => Date.parse(a.start)));

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
    alsoCheck?.(attack, start);
  });

  it('raises nothing on the benign days (learning day and the full day after it)', () => {
    const early = alerts.filter((a) => Date.parse(a['@timestamp']) < firstAttack);
    expect(early.map(describeAlert)).toEqual([]);
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
    expect(unexplained.map(describeAlert)).toEqual([]);
  });
}
