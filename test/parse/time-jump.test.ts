import { describe, expect, it } from 'vitest';
import { HELD, PASS, TimeJumpGuard } from '../../src/parse/time-jump.js';

const H = 3_600_000;

describe('TimeJumpGuard', () => {
  it('holds a line far ahead and dead-letters it when the next lines go on at the old time', () => {
    const g = new TimeJumpGuard<string>(H, 3, 2);
    expect(g.offer('f', 0, () => 'a')).toBe(PASS);
    expect(g.offer('f', 1000, () => 'b')).toBe(PASS);
    expect(g.offer('f', 90 * 24 * H, () => 'jump')).toBe(HELD);
    expect(g.offer('f', 2000, () => 'c')).toBe(PASS);
    expect(g.takeRefuted()).toEqual([]);
    expect(g.offer('f', 3000, () => 'd')).toBe(PASS);
    expect(g.takeRefuted()).toEqual([{ held: [{ time: 90 * 24 * H, item: 'jump' }], newest: 3000 }]);
    expect(g.takeReleased()).toEqual([]);
  });

  it('releases the held lines in order once enough lines confirm the jump (a gap in the input)', () => {
    const g = new TimeJumpGuard<string>(H, 3, 2);
    g.offer('f', 0, () => 'a');
    expect(g.offer('f', 3 * 24 * H, () => 'x')).toBe(HELD);
    expect(g.offer('f', 3 * 24 * H + 5, () => 'y')).toBe(HELD);
    expect(g.takeReleased()).toEqual([]);
    expect(g.offer('f', 3 * 24 * H + 9, () => 'z')).toBe(HELD);
    expect(g.takeReleased().map((h) => h.item)).toEqual(['x', 'y', 'z']);
    // The clock moved on: the next line passes.
    expect(g.mustOffer('f', 3 * 24 * H + 10)).toBe(false);
  });

  it('keeps a clock per input, and releases what is held at the end of the input', () => {
    const g = new TimeJumpGuard<string>(H, 8, 2);
    g.offer('a', 0, () => 'a0');
    // Another input starting days later is not a jump of the first.
    expect(g.offer('b', 5 * 24 * H, () => 'b0')).toBe(PASS);
    expect(g.offer('a', 2 * H, () => 'a1')).toBe(HELD);
    g.flush();
    expect(g.takeReleased().map((h) => h.item)).toEqual(['a1']);
  });
});
