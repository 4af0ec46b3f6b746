import { describe, expect, it } from 'vitest';
import {
  type LegCounts,
  MAX_CARRY_WINDOWS,
  SilenceJudge,
  type SilenceJudgeOptions,
  type SilenceVerdict,
  silenceFinding,
} from '../../src/detect/silence-judge.js';

const MIN = 60_000;
const T0 = Date.parse('2025-03-03T08:00:00.000Z');
const TOLERANCE = 10_000;

function judge(basis: SilenceJudgeOptions['basis'], minSidecarLegs = 4): SilenceJudge {
  return new SilenceJudge(
    { windowMs: MIN, matchToleranceMs: TOLERANCE, minSidecarLegs, minMatchedRatio: 0.5, basis },
    () => ({ sidecar: 0, gateway: 0, matched: 0 }),
  );
}

/** Feeds one window per entry (minute i) and closes each as soon as it can close; the verdicts. */
function verdicts(
  basis: SilenceJudgeOptions['basis'],
  minutes: Partial<LegCounts>[],
  minSidecarLegs = 4,
): SilenceVerdict[] {
  const j = judge(basis, minSidecarLegs);
  const out: SilenceVerdict[] = [];
  minutes.forEach((counts, i) => {
    const w = j.window(T0 + i * MIN + 30_000);
    w.sidecar += counts.sidecar ?? 0;
    w.gateway += counts.gateway ?? 0;
    w.matched += counts.matched ?? 0;
    j.advance(T0 + (i + 1) * MIN + TOLERANCE, (v) => out.push(v));
  });
  return out;
}

/** Every gateway leg pairs with a sidecar leg: what plain mode joins, scaled mode only counts. */
function paired(sidecar: number, gateway: number): LegCounts {
  return { sidecar, gateway, matched: Math.min(sidecar, gateway) };
}

describe('SilenceJudge', () => {
  const story = [
    paired(8, 8),
    paired(8, 8),
    paired(8, 0),
    paired(8, 0),
    paired(8, 2),
    paired(8, 7),
    paired(8, 8),
    paired(8, 0),
  ];

  it('judges joined legs and counted legs alike when every gateway leg pairs with a sidecar leg', () => {
    const shape = (v: SilenceVerdict) => [v.status, v.start, v.end, v.ratio, v.firingSince];
    const joined = verdicts('joined', story);
    expect(joined.map(shape)).toEqual(verdicts('counted', story).map(shape));
    expect(joined.map((v) => v.status)).toEqual(['firing', 'firing', 'firing', 'resolved', 'firing']);
    expect(joined[3]?.firingSince).toBe(T0 + 2 * MIN);
    expect(joined[4]?.firingSince).toBe(T0 + 7 * MIN);
  });

  it('joined legs count only the matched ones; counted legs count the gateway legs up to the sidecars', () => {
    // The gateway logged as many legs as sidecars sent, but none of them is one the sidecars sent.
    const forged = [{ sidecar: 8, gateway: 8, matched: 0 }];
    expect(verdicts('joined', forged).map((v) => v.status)).toEqual(['firing']);
    expect(verdicts('counted', forged)).toEqual([]);
    // More gateway legs than sidecar legs do not hide a silence that came before.
    const catchUp = [paired(8, 0), { sidecar: 4, gateway: 40, matched: 4 }];
    expect(verdicts('counted', catchUp).map((v) => [v.status, v.ratio])).toEqual([
      ['firing', 0],
      ['resolved', 1],
    ]);
  });

  it('carries quiet windows into the next ones, ends the carry at a window without sidecar legs', () => {
    const v = verdicts('joined', [paired(2, 0), paired(2, 0), paired(0, 0), paired(3, 0), paired(1, 0)]);
    expect(v.map((x) => [x.status, x.start, x.end, x.counts.sidecar])).toEqual([
      ['firing', T0, T0 + 2 * MIN, 4],
      ['firing', T0 + 3 * MIN, T0 + 5 * MIN, 4],
    ]);
  });

  it(`judges at most ${MAX_CARRY_WINDOWS + 1} quiet windows together`, () => {
    // One sidecar leg a minute, never logged by the gateway: judged once enough minutes are together.
    const quiet = Array.from({ length: 3 * MAX_CARRY_WINDOWS }, () => paired(1, 0));
    expect(verdicts('joined', quiet, MAX_CARRY_WINDOWS + 1).map((v) => v.start)).toEqual([
      T0,
      T0 + (MAX_CARRY_WINDOWS + 1) * MIN,
    ]);
    expect(verdicts('joined', quiet, MAX_CARRY_WINDOWS + 2)).toEqual([]);
  });

  it('closes a window when the watermark passes its end plus the match tolerance, oldest first', () => {
    const j = judge('counted');
    for (const m of [2, 0, 1]) j.window(T0 + m * MIN).sidecar += 8;
    const ends: number[] = [];
    j.advance(T0 + 2 * MIN + TOLERANCE - 1, (v) => ends.push(v.end));
    expect(ends).toEqual([T0 + MIN]);
    j.advance(T0 + 2 * MIN + TOLERANCE, (v) => ends.push(v.end));
    expect(ends).toEqual([T0 + MIN, T0 + 2 * MIN]);
    expect(j.size).toBe(1);
    expect(j.isClosed(T0 + MIN + 59_999, T0 + 2 * MIN + TOLERANCE)).toBe(true);
    expect(j.isClosed(T0 + 2 * MIN, T0 + 3 * MIN + TOLERANCE - 1)).toBe(false);
  });

  it('raises one mesh-wide alert identity at the same event time over the same span, worded by what the caller could see', () => {
    const [joined] = verdicts('joined', [paired(2, 0), paired(6, 1)]);
    const [counted] = verdicts('counted', [paired(2, 0), paired(6, 1)]);
    if (joined === undefined || counted === undefined) throw new Error('no verdict');
    const a = silenceFinding(joined);
    const b = silenceFinding(counted, { publishers: 2 });
    expect([a.ruleId, a.dedupKey, a.status]).toEqual([b.ruleId, b.dedupKey, b.status]);
    // The quiet first window was carried into the second: both are stamped at the second's end and
    // give the span from the first's start.
    expect([a.time, a.evidence.windowStart, a.evidence.windowMs]).toEqual([
      b.time,
      b.evidence.windowStart,
      b.evidence.windowMs,
    ]);
    expect(a.reason).toBe(
      "The egress gateway's logs account for 1 of the 8 connections sidecars sent it from 2025-03-03 08:00.",
    );
    expect(a.evidence).toEqual({
      sidecarLegs: 8,
      matchedLegs: 1,
      gatewayLegs: 1,
      ratio: 1 / 8,
      windowStart: '2025-03-03T08:00:00.000Z',
      windowMs: 2 * MIN,
    });
    expect(b.time).toBe(T0 + 2 * MIN);
    expect(b.reason).toContain('sidecars across the mesh sent it 8');
    expect(b.evidence).toMatchObject({ kind: 'mesh-wide', windowMs: 2 * MIN, publishers: 2 });
  });
});
