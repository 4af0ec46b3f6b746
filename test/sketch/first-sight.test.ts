import { describe, expect, it } from 'vitest';
import { FirstSightFilter } from '../../src/sketch/first-sight.js';

describe('FirstSightFilter', () => {
  it('knows every key it recorded, and passes few new keys for seen', () => {
    const f = new FirstSightFilter();
    let passedForSeen = 0;
    // 100,000 keys (below the 131,072 that clear it): what a source at its quota would send.
    for (let i = 0; i < 100_000; i++)
      if (!f.firstSight(`web/frontend\u0001h${i}.flood.example`)) passedForSeen++;
    expect(passedForSeen / 100_000).toBeLessThan(0.05);
    let forgotten = 0;
    for (let i = 99_000; i < 100_000; i++)
      if (f.firstSight(`web/frontend\u0001h${i}.flood.example`)) forgotten++;
    expect(forgotten).toBe(0);
  });

  it('is cleared after 2^17 first sightings, so its memory and error stay bounded', () => {
    const f = new FirstSightFilter();
    expect(f.firstSight('a.example')).toBe(true);
    // More than 2^17 keys: a few pass for seen (not counted), so the clear comes a little later.
    for (let i = 0; i < 1.2 * (1 << 17); i++) f.firstSight(`n${i}`);
    expect(f.firstSight('a.example')).toBe(true);
  });
});
