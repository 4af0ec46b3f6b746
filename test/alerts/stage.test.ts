import { describe, expect, it } from 'vitest';
import { AlertStage, alertStageOptions } from '../../src/alerts/stage.js';
import type { Alert } from '../../src/alerts/types.js';
import { DetectionConfigSchema } from '../../src/detect/config.js';
import type { Finding } from '../../src/detect/types.js';
import { destination, HOUR, MIN, source, T0 } from '../helpers/events.js';

function finding(time: number, over: Partial<Finding> = {}): Finding {
  return {
    ruleId: 'gateway-bypass',
    severity: 'high',
    time,
    dedupKey: 'app-a/app-a -> evil.example.net',
    reason: 'bypass',
    source: source('app-a'),
    destination: destination('evil.example.net'),
    path: 'passthrough',
    protocol: 'tls',
    evidence: {},
    ...over,
  };
}

describe('AlertStage', () => {
  it('gives the same id to the same condition on a replay and a different id in the next realert window', () => {
    const a: Alert[] = [];
    const b: Alert[] = [];
    new AlertStage({ realertMs: HOUR, severity: {}, exceptions: [] }).accept(finding(T0 + 5 * MIN), a);
    new AlertStage({ realertMs: HOUR, severity: {}, exceptions: [] }).accept(finding(T0 + 5 * MIN), b);
    expect(a[0]?.alert.id).toMatch(/^[0-9a-f]{32}$/);
    expect(a[0]?.alert.id).toBe(b[0]?.alert.id);
    const stage = new AlertStage({ realertMs: HOUR, severity: {}, exceptions: [] });
    const c: Alert[] = [];
    stage.accept(finding(T0), c);
    stage.accept(finding(T0 + 2 * HOUR), c);
    expect(c).toHaveLength(2);
    expect(c[0]?.alert.id).not.toBe(c[1]?.alert.id);
  });

  it('suppresses repeats within the realert window and re-emits the standing alert with the count', () => {
    const stage = new AlertStage({
      realertMs: HOUR,
      severity: { 'gateway-bypass': 'critical' },
      exceptions: [],
    });
    const out: Alert[] = [];
    for (let i = 0; i < 5; i++) stage.accept(finding(T0 + i * MIN), out);
    expect(out).toHaveLength(1);
    expect(out[0]?.severity).toBe('critical');
    stage.advance(T0 + HOUR + 1, out);
    expect(out).toHaveLength(2);
    expect(out[1]?.alert.id).toBe(out[0]?.alert.id);
    expect(out[1]?.alert.repeats).toBe(4);
    expect(out[0]?.alert.repeats).toBe(0);
    expect(out[1]?.alert.last_seen).toBe(new Date(T0 + 4 * MIN).toISOString());
  });

  it('resolves the standing alert under the same id', () => {
    const stage = new AlertStage({ realertMs: HOUR, severity: {}, exceptions: [] });
    const out: Alert[] = [];
    stage.accept(finding(T0, { ruleId: 'gateway-silence', dedupKey: 'gw' }), out);
    stage.accept(
      finding(T0 + 5 * MIN, { ruleId: 'gateway-silence', dedupKey: 'gw', status: 'resolved' }),
      out,
    );
    expect(out.map((a) => a.alert.status)).toEqual(['firing', 'resolved']);
    expect(out[1]?.alert.id).toBe(out[0]?.alert.id);
  });

  it('applies exceptions by rule, source and destination pattern until they expire, counting each', () => {
    const stage = new AlertStage({
      realertMs: HOUR,
      severity: {},
      exceptions: [
        {
          rule: 'gateway-bypass',
          source: 'app-a',
          destination: '*.example.net',
          expires: new Date(T0 + HOUR).toISOString(),
          reason: 'vendor test',
        },
      ],
    });
    const out: Alert[] = [];
    stage.accept(finding(T0), out);
    stage.accept(finding(T0 + 10 * MIN, { destination: destination('other.org'), dedupKey: 'x' }), out);
    stage.accept(finding(T0 + 2 * HOUR), out);
    expect(out.map((a) => a.destination.domain)).toEqual(['other.org', 'evil.example.net']);
    expect(stage.exceptionCounts[0]?.suppressed).toBe(1);
  });

  it('keeps a continuing forbidden destination one alert for hours by default, its count growing hourly', () => {
    const stage = new AlertStage(alertStageOptions(DetectionConfigSchema.parse({})));
    const out: Alert[] = [];
    // Every 5 minutes for 4 hours (a beacon to a forbidden host).
    for (let t = 0; t <= 4 * HOUR; t += 5 * MIN) {
      stage.accept(finding(T0 + t, { ruleId: 'forbidden-destination' }), out);
      stage.advance(T0 + t, out);
    }
    stage.flush(out);
    expect(new Set(out.map((a) => a.alert.id)).size).toBe(1);
    // The first record, then one update per hour of event time with the repeats so far, then the final.
    expect(out.map((a) => a.alert.repeats)).toEqual([0, 12, 24, 36, 48]);
    expect(out.at(-1)?.alert.last_seen).toBe(new Date(T0 + 4 * HOUR).toISOString());
  });

  it('keeps the one-hour realert for volume spikes and honours a configured window per rule', () => {
    const opts = alertStageOptions(
      DetectionConfigSchema.parse({ realertPerRule: { 'gateway-bypass': '2h' }, realert: '30m' }),
    );
    expect(opts.realertPerRuleMs?.['forbidden-destination']).toBe(24 * HOUR);
    expect(opts.realertPerRuleMs?.['gateway-bypass']).toBe(2 * HOUR);
    const stage = new AlertStage(opts);
    const out: Alert[] = [];
    stage.accept(finding(T0, { ruleId: 'volume-spike', dedupKey: 'v' }), out);
    stage.accept(finding(T0 + 40 * MIN, { ruleId: 'volume-spike', dedupKey: 'v' }), out);
    stage.accept(finding(T0), out);
    stage.accept(finding(T0 + 90 * MIN), out);
    const ids = (rule: string) => new Set(out.filter((a) => a.rule.id === rule).map((a) => a.alert.id));
    expect(ids('volume-spike').size).toBe(2);
    expect(ids('gateway-bypass').size).toBe(1);
  });
});
