/**
 * One source flooding random destinations (10^6 in `npm run bench:flood-state`; 30,000 here against a
 * table of 3,000 keys): the tables stay at their cap, the flood is reported as state-eviction, the
 * flooding identity churns only its own keys (maxKeysPerIdentity), and the other sources keep their
 * baselines and are still judged: an upload by app A after the flood is found.
 */
import { describe, expect, it } from 'vitest';
import type { EgressEvent } from '../../../src/identity/types.js';
import {
  benignTraffic,
  DAY,
  destination,
  egressEvent,
  Harness,
  HOUR,
  MIN,
  mergeByTime,
  rng,
  source,
  T0,
} from '../../helpers/events.js';

const FLOOD = 30_000;

function flooded(maxKeysPerIdentity: number): Harness {
  const r = rng(9);
  const attacker = source('web', 'frontend');
  const extra: EgressEvent[] = [];
  // Two hours of new random hosts, each its own registrable domain.
  for (let i = 0; i < FLOOD; i++) {
    const domain = `r${Math.floor(r() * 1e9).toString(36)}.net`;
    extra.push(
      egressEvent({
        time: T0 + 2 * DAY + 10 * HOUR + Math.floor((i * 2 * HOUR) / FLOOD),
        source: attacker,
        destination: destination(`h.${domain}`, { registeredDomain: domain }),
        bytesUp: 300,
      }),
    );
  }
  // Then app A uploads 0.5-1 MB a minute to www.ibm.com (its busiest minute is about 40 kB).
  for (let m = 0; m < 20; m++)
    for (let c = 0; c < 10; c++)
      extra.push(
        egressEvent({
          time: T0 + 2 * DAY + 14 * HOUR + 7 * MIN + m * MIN + c * 6000,
          host: 'www.ibm.com',
          bytesUp: 50_000 + Math.floor(r() * 50_000),
        }),
      );
  return new Harness({ learningPeriod: '24h', maxKeys: 3000, maxKeysPerIdentity }).feed(
    mergeByTime(benignTraffic(3), extra),
  );
}

describe('a source flooding new destinations', { timeout: 60_000 }, () => {
  it('is reported as state-eviction, churns its own keys and leaves the other sources judged', () => {
    const h = flooded(1000).finish();
    const state = h.engine.state;
    expect(state.hosts.size).toBeLessThanOrEqual(3000);
    expect(state.hosts.groupSize('web/frontend')).toBeLessThanOrEqual(1000);
    const evicted = h.of('state-eviction').reduce((n, f) => n + (f.evidence.evicted as number), 0);
    expect(evicted).toBeGreaterThan(FLOOD - 3000);
    // app A's baselines are the ones it learned from day one.
    const www = state.hosts.get('app-a/app-a\u0001www.ibm.com');
    expect(www?.firstSeen).toBeLessThan(T0 + DAY);
    expect(state.hosts.get('app-a/app-a\u0001backup.ibm.com')?.firstSeen).toBeLessThan(T0 + DAY);
    const spikes = h.of('volume-spike').filter((f) => f.source.key === 'app-a/app-a');
    expect(spikes.map((f) => f.destination?.host)).toEqual(['www.ibm.com']);
  });

  it("without a per-identity quota, loses the baselines of other sources' quieter keys", () => {
    const state = flooded(1_000_000).finish().engine.state;
    // The nightly backup host was last used at 02:30: ten flood minutes later it was gone.
    expect(state.hosts.get('app-a/app-a\u0001backup.ibm.com')?.firstSeen ?? Number.NaN).not.toBeLessThan(
      T0 + DAY,
    );
  });
});
