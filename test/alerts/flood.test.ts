/** Issue #15 item 2: a flood of destinations from one source is one alert, and the stage stays bounded. */
import { describe, expect, it } from 'vitest';
import { DistinctCount } from '../../src/alerts/distinct-count.js';
import { AlertStage } from '../../src/alerts/stage.js';
import { safeText } from '../../src/alerts/text.js';
import type { Alert } from '../../src/alerts/types.js';
import { WindowTable } from '../../src/alerts/window-table.js';
import type { Finding } from '../../src/detect/types.js';
import { destination, HOUR, MIN, source, T0 } from '../helpers/events.js';

function bypass(time: number, host: string, from = 'app-a'): Finding {
  return {
    ruleId: 'gateway-bypass',
    severity: 'high',
    time,
    dedupKey: `${from}/${from} -> ${host}`,
    reason: `${from} reached external ${host}:443 directly via PassthroughCluster, bypassing the egress gateway.`,
    source: source(from),
    destination: destination(host),
    path: 'passthrough',
    protocol: 'tls',
    evidence: { cluster: 'PassthroughCluster' },
  };
}

describe('flood aggregation', () => {
  it('raises the first 20 destinations of a source one by one and folds the other 99,980 into one flood alert', () => {
    const stage = new AlertStage({ realertMs: HOUR, severity: {}, exceptions: [], repeatUpdateMs: 10 * MIN });
    const out: Alert[] = [];
    for (let i = 0; i < 100_000; i++) stage.accept(bypass(T0 + i * 30, `h${i}.flood.example`), out);
    // Another source is not affected by app-a's flood.
    stage.accept(bypass(T0 + 50 * MIN, 'api.stripe.com', 'app-b'), out);
    stage.advance(T0 + 2 * HOUR, out);
    const ids = new Set(out.map((a) => a.alert.id));
    expect(ids.size).toBe(22);
    expect(stage.raised['gateway-bypass']).toBe(22);
    const flood = out.filter((a) => a.evidence.flood === true);
    // First record, one update per 10 minutes of event time (50 min of flood), the final one.
    expect(flood.length).toBeLessThan(10);
    const last = flood[flood.length - 1] as Alert;
    expect(last.destination.domain).toBeNull();
    expect(last.evidence.foldedFindings).toBe(99_980);
    expect(Math.abs((last.evidence.distinctDestinations as number) - 99_980) / 99_980).toBeLessThan(0.06);
    expect(last.evidence.examples).toEqual([...Array(10).keys()].map((i) => `h${i + 20}.flood.example`));
    expect(last.reason).toMatch(
      /^Flood: app-a raised more than 20 Egress gateway bypass alerts within 60 min; \d+ more distinct/,
    );
    expect(last.alert.repeats).toBe(99_979);
    expect(stage.counters).toEqual({ standingEvicted: 0, folded: 99_980, floods: 1 });
    expect(out.find((a) => a.destination.domain === 'api.stripe.com')).toBeDefined();
  });

  it('starts counting again in the next realert window', () => {
    const stage = new AlertStage({ realertMs: HOUR, severity: {}, exceptions: [] });
    const out: Alert[] = [];
    for (let i = 0; i < 30; i++) stage.accept(bypass(T0 + i, `a${i}.example`), out);
    stage.advance(T0 + 2 * HOUR, out);
    for (let i = 0; i < 30; i++) stage.accept(bypass(T0 + 2 * HOUR + i, `b${i}.example`), out);
    expect(stage.raised['gateway-bypass']).toBe(42);
  });

  it('caps standing alerts, closing the one nearest its end with its final count, and counts it', () => {
    const stage = new AlertStage({ realertMs: HOUR, severity: {}, exceptions: [], maxStanding: 100 });
    const out: Alert[] = [];
    stage.accept(bypass(T0, 'first.example', 'src-0'), out);
    stage.accept(bypass(T0 + 1, 'first.example', 'src-0'), out);
    // 200 sources, one destination each: under every flood threshold, over the cap.
    for (let i = 1; i <= 200; i++) stage.accept(bypass(T0 + 10 + i, 'x.example', `src-${i}`), out);
    expect(stage.standingCount).toBe(100);
    expect(stage.counters.standingEvicted).toBe(101);
    // The first alert was closed early with its repeat.
    const first = out.filter((a) => a.destination.domain === 'first.example');
    expect(first.map((a) => a.alert.repeats)).toEqual([0, 1]);
  });
});

describe('WindowTable', () => {
  it('expires in window order and evicts in O(1) however the table churns', () => {
    const t = new WindowTable<{ key: string; start: number; lengthMs: number }>(1000);
    const started = performance.now();
    for (let i = 0; i < 300_000; i++) {
      t.set({ key: `k${i}`, start: i, lengthMs: 1_000_000 });
      if (i % 3 === 0) t.delete(t.get(`k${i - 1}`) ?? { key: '', start: 0, lengthMs: 0 });
    }
    expect(t.size).toBe(1000);
    expect(t.evicted).toBeGreaterThan(150_000);
    // A quadratic walk over deleted slots would take minutes; this is well under a second on a laptop.
    expect(performance.now() - started).toBeLessThan(5000);
    const expired = t.takeExpired(299_500 + 1_000_000);
    expect(expired.length).toBeGreaterThan(0);
    expect(expired.every((e) => e.start <= 299_500)).toBe(true);
    expect(expired.map((e) => e.start)).toEqual([...expired.map((e) => e.start)].sort((a, b) => a - b));
  });
});

describe('DistinctCount', () => {
  it('is exact for a few keys and within 6 % for a million', () => {
    const d = new DistinctCount();
    for (let i = 0; i < 50; i++) d.add(`h${i % 40}.example`);
    expect(d.estimate()).toBe(40);
    for (let i = 0; i < 1_000_000; i++) d.add(`h${i}.flood.example`);
    expect(Math.abs(d.estimate() - 1_000_000) / 1_000_000).toBeLessThan(0.06);
  });
});

describe('alert text (item 8)', () => {
  it('makes a 5 MB host a bounded alert', () => {
    const host = `${'a'.repeat(5_000_000)}.example`;
    const out: Alert[] = [];
    const f = bypass(T0, host);
    new AlertStage({ realertMs: HOUR, severity: {}, exceptions: [] }).accept(
      { ...f, evidence: { ...f.evidence, sni: host, samples: Array(1000).fill(host) } },
      out,
    );
    expect(JSON.stringify(out[0]).length).toBeLessThan(250_000);
    expect(out[0]?.destination.domain).toMatch(/^a{300}…\(4999708 more chars\)$/);
  });

  it('shows bidi and zero-width characters instead of letting them reorder or hide text', () => {
    const out: Alert[] = [];
    const host = 'www.\u202Eelgoog\u202C.com\u200B';
    new AlertStage({ realertMs: HOUR, severity: {}, exceptions: [] }).accept(bypass(T0, host), out);
    const a = out[0] as Alert;
    expect(a.destination.domain).toBe('www.<U+202E>elgoog<U+202C>.com<U+200B>');
    expect(a.reason).toContain('www.<U+202E>elgoog<U+202C>.com<U+200B>');
    expect(JSON.stringify(a)).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u200b-\u200f]/);
    expect(safeText('tab\tand\x1b[2Jclear')).toBe('tab\tand<U+001B>[2Jclear');
  });
});
