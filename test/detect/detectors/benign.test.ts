import { describe, expect, it } from 'vitest';
import type { EgressEvent } from '../../../src/identity/types.js';
import {
  benignTraffic,
  browsingCalls,
  DAY,
  egressEvent,
  gatewayLeg,
  Harness,
  HOUR,
  mergeByTime,
  T0,
} from '../../helpers/events.js';

describe('benign traffic', () => {
  it('raises no alerts over three days of diurnal load, a nightly batch, a metrics agent and pod restarts', () => {
    const h = new Harness({ learningPeriod: '24h' }).feed(benignTraffic(3)).finish();
    expect(h.engine.counters.released).toBeGreaterThan(50_000);
    expect(h.findings.map((f) => `${f.ruleId}: ${f.reason}`)).toEqual([]);
  });

  it('raises no beaconing for a 6-hourly job that was already running while the detector learned', () => {
    // Too slow to make six calls inside a 24 h learning period, but present since the start of the history.
    const job: EgressEvent[] = [];
    for (let i = 0; i < 12; i++) {
      const e = egressEvent({
        time: T0 + HOUR + i * 6 * HOUR + ((i * 7919) % 600) * 1000,
        host: 'acme-v02.api.letsencrypt.org',
        bytesUp: 900,
        bytesDown: 4200,
      });
      job.push(e, gatewayLeg(e));
    }
    const h = new Harness({ learningPeriod: '24h' }).feed(mergeByTime(benignTraffic(3), job)).finish();
    expect(h.of('beaconing').map((f) => f.reason)).toEqual([]);
    expect(h.findings.map((f) => `${f.ruleId}: ${f.reason}`)).toEqual([]);
  });

  it('raises no beaconing for a person browsing a new host irregularly for a working day, for several seeds', () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const calls = browsingCalls(seed, T0 + 2 * DAY + 8 * HOUR, 9 * HOUR);
      const legs = calls.flatMap((c) => {
        const e = egressEvent({ ...c, host: 'docs.newvendor.dev' });
        return [e, gatewayLeg(e)];
      });
      const h = new Harness({ learningPeriod: '24h' }).feed(mergeByTime(benignTraffic(3), legs)).finish();
      // It is a new host (new-destination may say so), but not a beacon.
      expect(calls.length, `seed ${seed}`).toBeGreaterThan(100);
      expect(
        h.of('beaconing').map((f) => f.reason),
        `seed ${seed}`,
      ).toEqual([]);
      expect(
        h.rules().filter((r) => r !== 'new-destination'),
        `seed ${seed}`,
      ).toEqual([]);
    }
  });
});
