import { describe, expect, it } from 'vitest';
import { HELD, PASS, TimeJumpGuard } from '../../src/parse/time-jump.js';

const H = 3_600_000;
const DAY = 24 * H;

/** A guard whose input `f` has passed a line at `t`. */
function started(t = 0, confirmations = 3): TimeJumpGuard<string> {
  const g = new TimeJumpGuard<string>(H, confirmations, 2);
  g.offer('f', t, () => 'first');
  g.offer('f', t + 1, () => 'second');
  expect(g.takeReleased().map((h) => h.item)).toEqual(['first']);
  return g;
}

describe('TimeJumpGuard', () => {
  it('holds a line far ahead and dead-letters it when the next lines go on at the old time', () => {
    const g = started();
    expect(g.offer('f', 1000, () => 'b')).toBe(PASS);
    expect(g.offer('f', 90 * DAY, () => 'jump')).toBe(HELD);
    expect(g.offer('f', 2000, () => 'c')).toBe(PASS);
    expect(g.takeRefuted()).toEqual([]);
    expect(g.offer('f', 3000, () => 'd')).toBe(PASS);
    expect(g.takeRefuted()).toEqual([{ held: [{ time: 90 * DAY, item: 'jump' }], newest: 3000 }]);
    expect(g.takeReleased()).toEqual([]);
  });

  it('releases the held lines in order once enough lines confirm the jump (a gap in the input)', () => {
    const g = started();
    expect(g.offer('f', 3 * DAY, () => 'x')).toBe(HELD);
    expect(g.offer('f', 3 * DAY + 5, () => 'y')).toBe(HELD);
    expect(g.takeReleased()).toEqual([]);
    expect(g.offer('f', 3 * DAY + 9, () => 'z')).toBe(HELD);
    expect(g.takeReleased().map((h) => h.item)).toEqual(['x', 'y', 'z']);
    // The clock moved on: the next line passes.
    expect(g.mustOffer('f', 3 * DAY + 10)).toBe(false);
  });

  it("holds an input's first line until the next agrees, and dead-letters it when the lines after it are far behind", () => {
    const g = new TimeJumpGuard<string>(H, 8, 2);
    expect(g.offer('f', 90 * DAY, () => 'first, far ahead')).toBe(HELD);
    expect(g.offer('f', 0, () => 'a')).toBe(PASS);
    expect(g.offer('f', 10, () => 'b')).toBe(PASS);
    expect(g.takeRefuted()).toEqual([{ held: [{ time: 90 * DAY, item: 'first, far ahead' }], newest: 10 }]);
    expect(g.mustOffer('f', 20)).toBe(false);
  });

  it('keeps a clock per input, and releases what is held at the end of the input', () => {
    const g = started(0, 8);
    // Another input starting days later is not a jump of the first.
    expect(g.offer('b', 5 * DAY, () => 'b0')).toBe(HELD);
    expect(g.offer('b', 5 * DAY + 1, () => 'b1')).toBe(PASS);
    expect(g.takeReleased().map((h) => h.item)).toEqual(['b0']);
    expect(g.offer('f', 2 * H, () => 'a1')).toBe(HELD);
    g.flush();
    expect(g.takeReleased().map((h) => h.item)).toEqual(['a1']);
  });
});
