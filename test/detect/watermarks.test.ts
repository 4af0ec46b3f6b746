import { describe, expect, it } from 'vitest';
import { InputWatermarks } from '../../src/detect/watermarks.js';

function clock() {
  const c = { now: 1_000_000, read: () => c.now };
  return c;
}

describe('InputWatermarks', () => {
  it('is the slowest stream still behind; caught-up streams hold nothing back until they deliver again', () => {
    const wall = clock();
    const w = new InputWatermarks({ idleTimeoutMs: 10_000, clock: wall.read });
    w.mark('kafka:in/0', 5000, false);
    w.mark('kafka:in/1', 2000, false);
    expect(w.slowest()).toBe(2000);
    expect(w.holding).toBe(2);
    w.mark('kafka:in/1', 3000, true);
    expect(w.slowest()).toBe(5000);
    // Delivering again (not at the end any more) makes it hold again, at its own time.
    InputWatermarks.delivered(w.stream('kafka:in/1', 0), 4000);
    expect(w.slowest()).toBe(4000);
  });

  it('stops holding for a stream idle longer than the idle timeout, and holds again when it delivers', () => {
    const wall = clock();
    const w = new InputWatermarks({ idleTimeoutMs: 10_000, clock: wall.read });
    w.mark('kafka:in/0', 1000, false);
    w.mark('kafka:in/1', 9000, false);
    expect(w.slowest()).toBe(1000);
    for (let i = 0; i < 10; i++) {
      wall.now += 1000;
      w.mark('kafka:in/1', 9000 + i, false);
      expect(w.slowest()).toBe(1000);
    }
    wall.now += 1001;
    w.mark('kafka:in/1', 9100, false);
    expect(w.slowest()).toBe(9100);
    expect(w.idle).toBe(1);
    w.mark('kafka:in/0', 1500, false);
    expect(w.slowest()).toBe(1500);
    expect(w.idle).toBe(0);
  });

  it('holds again for a caught-up stream whose partition grew past its reader (a reader gone), for at most the idle timeout', () => {
    const wall = clock();
    const w = new InputWatermarks({ idleTimeoutMs: 10_000, clock: wall.read });
    w.mark('kafka:in/0', 5000, true, 120);
    w.mark('kafka:in/1', 9000, false, 40);
    expect(w.hasCaughtUp()).toBe(true);
    w.ends(new Map([['kafka:in/0', 120]]));
    // Caught up and nothing written past it: holds nothing back.
    expect(w.slowest()).toBe(9000);
    // Lines written past where its reader stood, and no mark since: it holds at its newest time ...
    wall.now += 60_000;
    w.mark('kafka:in/1', 9500, false, 50);
    w.ends(new Map([['kafka:in/0', 180]]));
    expect(w.slowest()).toBe(5000);
    expect(w.idle).toBe(0);
    // ... its idle timeout counted from then, not from its last mark a minute ago ...
    wall.now += 9_000;
    w.mark('kafka:in/1', 9600, false, 60);
    expect(w.slowest()).toBe(5000);
    wall.now += 1_001;
    w.mark('kafka:in/1', 9700, false, 70);
    expect(w.slowest()).toBe(9700);
    expect(w.idle).toBe(1);
    // ... and its reader (or the next) reading on makes it count again, caught up once at the end.
    w.mark('kafka:in/0', 6000, false, 150);
    expect(w.slowest()).toBe(6000);
    w.mark('kafka:in/0', 7000, true, 180);
    expect(w.slowest()).toBe(9700);
  });

  it('trusts a caught-up mark that says nothing of the read position', () => {
    const w = new InputWatermarks();
    w.mark('kafka:in/0', 5000, true);
    w.mark('kafka:in/1', 9000, false);
    expect(w.hasCaughtUp()).toBe(false);
    w.ends(new Map([['kafka:in/0', 1_000]]));
    expect(w.slowest()).toBe(9000);
  });

  it('on a fresh start, holds for input partitions not heard of yet until their reader tells, or the idle timeout', () => {
    const wall = clock();
    const w = new InputWatermarks({ idleTimeoutMs: 10_000, clock: wall.read });
    w.mark('kafka:in/0', 5000, false, 10);
    const ends = new Map([
      ['kafka:in/0', 100],
      ['kafka:in/1', 100],
    ]);
    w.ends(ends, true);
    expect(w.slowest()).toBe(Number.NEGATIVE_INFINITY);
    w.mark('kafka:in/1', 3000, false, 5);
    expect(w.slowest()).toBe(3000);
    // Later lookups only update the ends: a partition gone quiet and forgotten is not held again.
    const later = new InputWatermarks({ idleTimeoutMs: 10_000, clock: wall.read });
    later.mark('kafka:in/0', 5000, false, 10);
    later.ends(ends);
    expect(later.slowest()).toBe(5000);
    // Never heard of: left out after the idle timeout.
    const quiet = new InputWatermarks({ idleTimeoutMs: 10_000, clock: wall.read });
    quiet.mark('kafka:in/0', 5000, false, 10);
    quiet.ends(ends, true);
    expect(quiet.slowest()).toBe(Number.NEGATIVE_INFINITY);
    wall.now += 10_001;
    quiet.mark('kafka:in/0', 6000, false, 20);
    expect(quiet.slowest()).toBe(6000);
  });

  it('holds at -Infinity for a partition assigned but not read yet', () => {
    const w = new InputWatermarks();
    w.mark('kafka:in/0', 5000, false);
    w.mark('kafka:in/1', Number.NEGATIVE_INFINITY, false);
    expect(w.slowest()).toBe(Number.NEGATIVE_INFINITY);
  });

  it('carries where each stream stood through a checkpoint', () => {
    const a = new InputWatermarks();
    a.mark('kafka:in/0', 5000, false);
    a.mark('kafka:in/1', 7000, true, 42);
    a.mark('kafka:in/2', Number.NEGATIVE_INFINITY, false);
    const b = new InputWatermarks();
    b.import(JSON.parse(JSON.stringify(a.export())));
    expect(b.export()).toEqual(a.export());
    expect(b.slowest()).toBe(Number.NEGATIVE_INFINITY);
    b.import('not a checkpoint');
    expect(b.export()).toEqual(a.export());
    // The read position came through: a partition grown past it holds the restored watermark.
    b.mark('kafka:in/2', 9000, true);
    b.mark('kafka:in/0', 9000, true);
    expect(b.slowest()).toBe(Number.POSITIVE_INFINITY);
    b.ends(new Map([['kafka:in/1', 50]]));
    expect(b.slowest()).toBe(7000);
    // Checkpoints written before the read position was kept still load.
    const old = new InputWatermarks();
    old.import([['kafka:in/0', 5000, false]]);
    expect(old.slowest()).toBe(5000);
    // A new owner replays from the committed offset: no stream is taken past the cap.
    const capped = new InputWatermarks();
    capped.import(a.export(), 6000);
    capped.mark('kafka:in/2', 9000, false);
    expect(capped.slowest()).toBe(5000);
    capped.mark('kafka:in/0', 8000, false);
    capped.ends(new Map([['kafka:in/1', 50]]));
    expect(capped.slowest()).toBe(6000);
  });
});
