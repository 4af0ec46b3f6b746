import { describe, expect, it } from 'vitest';
import { benignTraffic, Harness } from '../../helpers/events.js';

describe('benign traffic', () => {
  it('raises no alerts over three days of diurnal load, a nightly batch, a metrics agent and pod restarts', () => {
    const h = new Harness({ learningPeriod: '24h' }).feed(benignTraffic(3)).finish();
    expect(h.engine.counters.released).toBeGreaterThan(50_000);
    expect(h.findings.map((f) => `${f.ruleId}: ${f.reason}`)).toEqual([]);
  });
});
