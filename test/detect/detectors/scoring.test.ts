import { describe, expect, it } from 'vitest';
import { BeaconingConfigSchema, scoreBeacon } from '../../../src/detect/detectors/beaconing.js';
import { looksRandom } from '../../../src/detect/detectors/high-cardinality-domain.js';
import { type BeaconShape, beaconCalls, browsingCalls, rng } from '../../helpers/events.js';

const DEFAULTS = BeaconingConfigSchema.parse({});
const OPTIONS = { jitter: DEFAULTS.jitter, minGapSeconds: DEFAULTS.minGap / 1000 };

/** Calls merged into bursts as the detector records them (calls closer than minGap are one). */
function bursts(calls: { time: number; bytesUp: number; bytesDown: number }[]): {
  times: number[];
  sizes: number[];
} {
  const times: number[] = [];
  const sizes: number[] = [];
  let last = Number.NEGATIVE_INFINITY;
  for (const c of calls) {
    const size = c.bytesUp + c.bytesDown;
    if (c.time - last < DEFAULTS.minGap) sizes[sizes.length - 1] = (sizes.at(-1) ?? 0) + size;
    else {
      times.push(Math.round(c.time / 1000));
      sizes.push(size);
    }
    last = c.time;
  }
  return { times, sizes };
}

/** The windows the detector scores: the last up to 32 bursts, every other burst from the sixth. */
function* windows(b: { times: number[]; sizes: number[] }): Generator<[number[], number[]]> {
  for (let end = DEFAULTS.minConnections; end <= b.times.length; end += DEFAULTS.checkEvery) {
    const from = Math.max(0, end - DEFAULTS.maxConnections);
    yield [b.times.slice(from, end), b.sizes.slice(from, end)];
  }
}

describe('beacon scoring', () => {
  it.each<[string, BeaconShape]>([
    ['+-20 %', { periodMs: 300_000, jitter: 0.2, style: 'symmetric' }],
    ['+-25 %', { periodMs: 300_000, jitter: 0.25, style: 'symmetric' }],
    ['+-30 %', { periodMs: 300_000, jitter: 0.3, style: 'symmetric' }],
    ['-30 % (Cobalt Strike style)', { periodMs: 300_000, jitter: 0.3, style: 'cobalt' }],
  ])('scores a 5-minute beacon with %s gap jitter and varying sizes at the threshold from its sixth connection, for 300 seeds', (_name, shape) => {
    const low: string[] = [];
    for (let seed = 1; seed <= 300; seed++) {
      const b = bursts(beaconCalls(seed, 0, 6, shape));
      const s = scoreBeacon(b.times, b.sizes, OPTIONS);
      if (s.score < DEFAULTS.threshold) low.push(`seed ${seed}: ${s.score.toFixed(3)}`);
    }
    expect(low).toEqual([]);
  });

  it('keeps scoring a jittered beacon as one over its whole 32-connection window', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const b = bursts(beaconCalls(seed, 0, 40, { periodMs: 300_000, jitter: 0.3, style: 'symmetric' }));
      for (const [t, z] of windows(b))
        expect(scoreBeacon(t, z, OPTIONS).score, `seed ${seed}`).toBeGreaterThanOrEqual(DEFAULTS.threshold);
    }
  });

  // Poisson arrivals can look regular by chance; with 5 gaps the best test for a +-30 % jitter
  // cannot do better than ~0.5 % per window (5 exponential gaps within a factor 1.86 of each other).
  // These bound the rate per key over every window the detector scores (from the 6th call to 40).
  function keysFiring(meanGapMs: number, constantSize: boolean, seeds: number): number {
    let keys = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const r = rng(seed);
      const calls: { time: number; bytesUp: number; bytesDown: number }[] = [];
      let t = 0;
      while (calls.length < 400) {
        t += Math.round(-Math.log(1 - r()) * meanGapMs);
        calls.push({
          time: t,
          bytesUp: constantSize ? 1200 : 500 + Math.floor(r() * 2000),
          bytesDown: constantSize ? 300 : 2000 + Math.floor(r() * 20_000),
        });
      }
      const b = bursts(calls);
      b.times.length = Math.min(b.times.length, 40);
      b.sizes.length = b.times.length;
      for (const [times, sizes] of windows(b))
        if (scoreBeacon(times, sizes, OPTIONS).score >= DEFAULTS.threshold) {
          keys++;
          break;
        }
    }
    return keys;
  }

  it('flags busy traffic merged into 5 s bursts for at most 1 in 200 keys (0.2 % measured; gaps are never under 5 s, so that floor is taken off)', () => {
    expect(keysFiring(3000, false, 1000)).toBeLessThanOrEqual(5);
    expect(keysFiring(6000, false, 1000)).toBeLessThanOrEqual(5);
  });

  it('flags Poisson-timed calls of constant size (a timer with random delay) for at most 1 % of keys (0.4 % measured)', () => {
    expect(keysFiring(60_000, true, 1000)).toBeLessThanOrEqual(10);
  });

  it('keeps a person browsing a site (page views, think times, breaks) below the threshold', () => {
    for (let seed = 1; seed <= 100; seed++) {
      for (const [times, sizes] of windows(bursts(browsingCalls(seed, 0, 8 * 3_600_000))))
        expect(scoreBeacon(times, sizes, OPTIONS).score, `seed ${seed}`).toBeLessThan(DEFAULTS.threshold);
    }
  });

  it('scores jittered 5-minute beacons with constant size above 0.8 from eight calls, for many seeds', () => {
    for (let seed = 1; seed < 100; seed++) {
      const r = rng(seed);
      const times = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => i * 300 + Math.round(r() * 40 - 20));
      expect(
        scoreBeacon(
          times,
          times.map(() => 4596),
        ).score,
      ).toBeGreaterThan(0.8);
    }
  });

  it('keeps six Poisson-timed calls of constant size (a health check on a timer with jitter) below 0.8', () => {
    for (let seed = 1; seed < 100; seed++) {
      const r = rng(seed);
      const times: number[] = [];
      let t = 0;
      for (let i = 0; i < 6; i++) {
        t += Math.round(-Math.log(1 - r()) * 60);
        times.push(t);
      }
      expect(
        scoreBeacon(
          times,
          times.map(() => 1200),
        ).score,
      ).toBeLessThan(0.8);
    }
  });

  it('scores Poisson-like interactive calls with varied sizes low', () => {
    const r = rng(9);
    const times: number[] = [];
    let t = 0;
    for (let i = 0; i < 32; i++) {
      t += Math.round(-Math.log(1 - r()) * 60);
      times.push(t);
    }
    const s = scoreBeacon(
      times,
      times.map(() => 500 + Math.round(r() * 20_000)),
    );
    expect(s.score).toBeLessThan(0.5);
  });
});

describe('random-looking subdomains', () => {
  it('flags encoded labels and leaves ordinary names alone', () => {
    for (const s of ['3bf9edqcjvrsx4czh8nszdj4.t', 'a11cb0jh5hh527895nbmgh6f', 'mzxw6ytboi3tmnzq'])
      expect(looksRandom(s, 8, 3.0), s).toBe(true);
    for (const s of [
      'www',
      'api',
      'login.eu-west-1',
      'transfer.eu-de',
      'storage-account',
      'metrics-collector',
    ])
      expect(looksRandom(s, 8, 3.0), s).toBe(false);
  });
});
