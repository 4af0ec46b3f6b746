/**
 * One source flooding random destinations (10^6 in `npm run bench:flood-state`; 30,000 here against a
 * table of 3,000 keys): the tables stay at their cap, the flooding identity gets no state for names it
 * uses once past its quota (maxKeysPerIdentity) and keeps the baselines it had, and the other sources
 * keep theirs and are still judged: an upload by app A after the flood is found.
 */
import { describe, expect, it } from 'vitest';
import type { EgressEvent } from '../../../src/identity/types.js';
import { PipelineMetrics } from '../../../src/observability/metrics.js';
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
  it('gets no state for names it uses once past its quota, and leaves the other sources judged', async () => {
    const h = flooded(1000).finish();
    const state = h.engine.state;
    expect(state.hosts.size).toBeLessThanOrEqual(3000);
    expect(state.hosts.groupSize('web/frontend')).toBeLessThanOrEqual(1000);
    // Every flood name past the quota was a first sighting: no baseline, nothing evicted for it (a
    // few percent pass the first-sight filter as seen and are admitted, evicting its own oldest).
    expect(state.hosts.deferredTotal).toBeGreaterThan(0.9 * (FLOOD - 1000));
    expect(state.hosts.deferredTotal).toBeLessThanOrEqual(FLOOD - 1000);
    expect(state.domains.deferredTotal).toBeGreaterThan(0.9 * (FLOOD - 1000));
    expect(state.hosts.evictedTotal).toBeLessThan(0.1 * FLOOD);
    const metrics = new PipelineMetrics({ defaultMetrics: false });
    metrics.observeStateTables([state.hosts, state.domains]);
    const text = await metrics.registry.getSingleMetricAsString(
      'egress_sentinel_state_first_sightings_deferred_total',
    );
    expect(text).toContain(`{table="identity-host"} ${state.hosts.deferredTotal}`);
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

  it("keeps the flooding source's own baselines: its upload to a host it always used is still a host spike", () => {
    const r = rng(21);
    const attacker = source('web', 'frontend');
    const events: EgressEvent[] = [];
    // web/frontend calls api.stripe.com every 5 minutes (a few kB each), before and during its flood.
    for (let t = T0; t < T0 + 2 * DAY + 45 * MIN; t += 5 * MIN)
      events.push(
        egressEvent({
          time: t,
          source: attacker,
          host: 'api.stripe.com',
          bytesUp: 2000 + Math.floor(r() * 500),
        }),
      );
    // Then 20,000 single-use hosts in 40 minutes (quota 500), then 3 MB a minute to api.stripe.com.
    const floodAt = T0 + 2 * DAY;
    for (let i = 0; i < 20_000; i++) {
      const domain = `f${i.toString(36)}.example`;
      events.push(
        egressEvent({
          time: floodAt + Math.floor((i * 40 * MIN) / 20_000),
          source: attacker,
          destination: destination(`x.${domain}`, { registeredDomain: domain }),
          bytesUp: 300,
        }),
      );
    }
    for (let m = 0; m < 5; m++)
      for (let c = 0; c < 6; c++)
        events.push(
          egressEvent({
            time: floodAt + 45 * MIN + m * MIN + c * 10_000,
            source: attacker,
            host: 'api.stripe.com',
            bytesUp: 500_000,
          }),
        );
    events.sort((a, b) => a.time - b.time);
    const h = new Harness({ learningPeriod: '24h', maxKeys: 5000, maxKeysPerIdentity: 500 })
      .feed(events)
      .finish();
    const state = h.engine.state;
    // Learned on day one, not restarted by the flood (it was the source's oldest key: the first to go).
    expect(state.hosts.get('web/frontend\u0001api.stripe.com')?.firstSeen).toBeLessThan(T0 + DAY);
    expect(state.domains.get('web/frontend\u0001stripe.com')?.firstSeen).toBeLessThan(T0 + DAY);
    const spikes = h.of('volume-spike').filter((f) => f.destination?.host === 'api.stripe.com');
    expect(spikes.map((f) => f.evidence.scope)).toContain('host');
  });

  it('admits a name the source keeps using once past its quota (on its second line)', () => {
    const attacker = source('web', 'frontend');
    const events: EgressEvent[] = [];
    for (let i = 0; i < 3000; i++)
      events.push(egressEvent({ time: T0 + i * 100, source: attacker, host: `h${i}.flood.example` }));
    events.push(egressEvent({ time: T0 + 400_000, source: attacker, host: 'new.example.org' }));
    const h = new Harness({ maxKeysPerIdentity: 100 }).feed(events);
    h.engine.flush();
    const key = 'web/frontend\u0001new.example.org';
    expect(h.engine.state.hosts.get(key)).toBeUndefined();
    h.feed([egressEvent({ time: T0 + 410_000, source: attacker, host: 'new.example.org' })]);
    h.engine.flush();
    expect(h.engine.state.hosts.get(key)).toBeDefined();
    expect(h.engine.state.hosts.groupSize('web/frontend')).toBe(100);
  });

  it('new-destination: names used once past the quota do not push out the names the source uses', () => {
    const attacker = source('web', 'frontend');
    const events: EgressEvent[] = [];
    // Day one: api.stripe.com every 10 minutes; then, learned, 2,000 single-use hosts (quota 100).
    for (let t = T0; t < T0 + DAY + 2 * HOUR; t += 10 * MIN)
      events.push(egressEvent({ time: t, source: attacker, host: 'api.stripe.com' }));
    for (let i = 0; i < 2000; i++) {
      const domain = `f${i.toString(36)}.example`;
      events.push(
        egressEvent({
          time: T0 + DAY + HOUR + i * 1000,
          source: attacker,
          destination: destination(`x.${domain}`, { registeredDomain: domain }),
        }),
      );
    }
    events.sort((a, b) => a.time - b.time);
    const h = new Harness({
      learningPeriod: '12h',
      detectors: { 'new-destination': { maxPerIdentity: 100, learningPeriod: '12h' } },
    })
      .feed(events)
      .finish();
    const found = h.of('new-destination');
    expect(found.length).toBeGreaterThan(1900);
    // Still known after the flood (before, it was the oldest name: the first to go).
    expect(found.filter((f) => f.destination?.host === 'api.stripe.com')).toEqual([]);
  });
});
