import { describe, expect, it } from 'vitest';
import { scoreBeacon } from '../../../src/detect/detectors/beaconing.js';
import { looksRandom } from '../../../src/detect/detectors/high-cardinality-domain.js';
import { rng } from '../../helpers/events.js';

describe('beacon scoring', () => {
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
