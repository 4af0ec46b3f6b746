import { describe, expect, it } from 'vitest';
import { AlertStage } from '../../src/alerts/stage.js';
import type { Alert } from '../../src/alerts/types.js';
import type { Finding } from '../../src/detect/types.js';
import {
  GatewaySilenceEvaluator,
  type Heartbeat,
  HeartbeatSchema,
} from '../../src/scale/gateway-evaluator.js';

const MIN = 60_000;
const T0 = Date.parse('2025-03-03T08:00:00.000Z');
const OPTIONS = {
  windowMs: MIN,
  matchToleranceMs: 10_000,
  latenessMs: 5_000,
  minSidecarLegs: 4,
  minMatchedRatio: 0.5,
  publisherTimeoutMs: 30_000,
};

/** One heartbeat: `counts` as [minute index, sidecar legs, gateway legs]; event time up to `upTo` minutes. */
function hb(publisher: string, upTo: number, counts: [number, number, number][], idle = false): Heartbeat {
  return HeartbeatSchema.parse({
    v: 1,
    publisher,
    windowMs: MIN,
    maxTime: T0 + upTo * MIN,
    idle,
    counts: counts.map(([m, s, g]) => [T0 + m * MIN, s, g]),
  });
}

class Run {
  readonly evaluator = new GatewaySilenceEvaluator(OPTIONS);
  readonly findings: Finding[] = [];
  private wall = 1_000_000;
  feed(h: Heartbeat, wallStep = 1000): void {
    this.wall += wallStep;
    this.evaluator.accept(h, this.wall, (f) => this.findings.push(f));
  }
}

/**
 * Two stage-1 instances: `a` reads the sidecars of most pods, `b` reads the gateway's lines and a
 * few sidecars. `gatewayUntil`: the minute from which the gateway logs nothing.
 */
function twoPublishers(minutes: number, gateway: (m: number) => boolean): Run {
  const run = new Run();
  for (let m = 0; m < minutes; m++) {
    const g = gateway(m);
    // Minute m's legs, reported while event time is inside minute m and as it moves into m + 1.
    run.feed(hb('a', m + 0.5, [[m, 20, 0]]));
    run.feed(hb('b', m + 0.5, [[m, 3, g ? 11 : 0]]));
    run.feed(hb('a', m + 1.2, [[m, 10, 0]]));
    run.feed(hb('b', m + 1.2, [[m, 1, g ? 12 : 0]]));
  }
  return run;
}

describe('GatewaySilenceEvaluator', () => {
  it('sums each window across publishers: neither publisher alone has both legs, together they are healthy', () => {
    const run = twoPublishers(30, () => true);
    expect(run.findings).toEqual([]);
    expect(run.evaluator.watermark).toBeGreaterThan(T0 + 28 * MIN);
    expect(run.evaluator.lateCounts).toBe(0);
  });

  it('fires when the gateway count drops while sidecars keep sending, then resolves when it is back', () => {
    const run = twoPublishers(30, (m) => m < 10 || m >= 20);
    const statuses = run.findings.map((f) => [f.status, new Date(f.time).toISOString()]);
    expect(statuses[0]).toEqual(['firing', new Date(T0 + 11 * MIN).toISOString()]);
    expect(run.findings.filter((f) => f.status === 'firing')).toHaveLength(10);
    expect(statuses.at(-1)).toEqual(['resolved', new Date(T0 + 21 * MIN).toISOString()]);
    expect(run.findings.filter((f) => f.status === 'resolved')).toHaveLength(1);
    const first = run.findings[0] as Finding;
    expect(first.ruleId).toBe('gateway-silence');
    expect(first.reason).toMatch(/logged nothing .* sent it 34 connections/);
    expect(first.evidence).toMatchObject({ sidecarLegs: 34, gatewayLegs: 0, kind: 'mesh-wide' });
  });

  it('fires on far fewer gateway legs than sidecar legs, not only on none', () => {
    const run = new Run();
    for (let m = 0; m < 6; m++) {
      run.feed(hb('a', m + 1.2, [[m, 30, m === 3 ? 5 : 29]]));
    }
    expect(run.findings.map((f) => f.status)).toEqual(['firing', 'resolved']);
    expect(run.findings[0]?.reason).toMatch(/logged 5 connections .* sent it 30/);
  });

  it('stays quiet on normal traffic with noisy ratios and quiet night windows', () => {
    const run = new Run();
    for (let m = 0; m < 120; m++) {
      const sidecar = m % 7 === 0 ? 1 : 5 + (m % 13);
      const gateway = Math.max(0, sidecar - (m % 3));
      run.feed(hb('a', m + 0.6, [[m, Math.ceil(sidecar / 2), 0]]));
      run.feed(hb('b', m + 1.3, [[m, Math.floor(sidecar / 2), gateway]]));
    }
    expect(run.findings).toEqual([]);
  });

  it('holds windows open for a busy publisher that lags, so its gateway counts are not judged missing', () => {
    const run = new Run();
    // `a` races ahead through minute 5; `b` (which reads the gateway) is still in minute 1.
    run.feed(hb('b', 0.5, [[0, 0, 10]]));
    for (let m = 0; m < 5; m++) run.feed(hb('a', m + 1.2, [[m, 10, 0]]));
    expect(run.evaluator.watermark).toBeLessThan(T0 + MIN);
    for (let m = 1; m < 5; m++)
      run.feed(
        hb('b', m + 1.2, [
          [m - 1, 0, m === 1 ? 0 : 10],
          [m, 0, 10],
        ]),
      );
    expect(run.findings).toEqual([]);
    expect(run.evaluator.watermark).toBeGreaterThan(T0 + 4 * MIN);
  });

  it('does not wait for an idle publisher, and forgets one that stopped reporting', () => {
    const idle = new Run();
    idle.feed(hb('b', 0.2, [], true));
    for (let m = 0; m < 4; m++) idle.feed(hb('a', m + 1.2, [[m, 10, 10]]));
    expect(idle.evaluator.watermark).toBeGreaterThan(T0 + 3 * MIN);

    const crashed = new Run();
    crashed.feed(hb('b', 0.2, [[0, 1, 1]]));
    crashed.feed(hb('a', 3.2, [[0, 10, 9]]));
    expect(crashed.evaluator.watermark).toBeLessThan(T0 + MIN);
    crashed.feed(hb('a', 3.3, []), 31_000);
    expect(crashed.evaluator.publisherCount).toBe(1);
    expect(crashed.evaluator.watermark).toBeGreaterThan(T0 + 3 * MIN);
  });

  it('drops counts for windows already judged instead of judging them twice', () => {
    const run = new Run();
    run.feed(
      hb('a', 3.2, [
        [0, 10, 10],
        [1, 10, 10],
        [2, 10, 10],
      ]),
    );
    run.feed(hb('a', 3.3, [[0, 7, 0]]));
    expect(run.evaluator.lateCounts).toBe(7);
    expect(run.findings).toEqual([]);
  });

  it('gives a rebuilt evaluator the same alert ids (re-reading the same records after a takeover)', () => {
    const alertsOf = (): Alert[] => {
      const run = twoPublishers(30, (m) => m < 10 || m >= 20);
      const stage = new AlertStage({ realertMs: 24 * 3_600_000, severity: {}, exceptions: [] });
      const out: Alert[] = [];
      for (const f of run.findings) stage.accept(f, out);
      return out;
    };
    const first = alertsOf();
    const again = alertsOf();
    expect(first.map((a) => [a.alert.id, a.alert.status])).toEqual([
      [first[0]?.alert.id, 'firing'],
      [first[0]?.alert.id, 'resolved'],
    ]);
    expect(again.map((a) => a.alert.id)).toEqual(first.map((a) => a.alert.id));
  });
});
