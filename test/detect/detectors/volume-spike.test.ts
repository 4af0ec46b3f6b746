/**
 * volume-spike against each key's own baseline, over 1-minute, 10-minute and 1-hour windows, per
 * host, per registrable domain and per identity total. Two days of benign traffic (app A's busiest
 * minute to www.ibm.com around 14:00 is about 40 kB; the metrics agent calls twice a minute), then
 * the attack on the third day. The inputs of issue 16: before windows and relative floors
 * (5 MB a minute, 300 requests a minute) none of these attacks raised anything.
 */
import { describe, expect, it } from 'vitest';
import type { Finding } from '../../../src/detect/types.js';
import type { EgressEvent } from '../../../src/identity/types.js';
import { PipelinePolicyEvaluator } from '../../../src/policy/pipeline.js';
import {
  benignTraffic,
  DAY,
  destination,
  egressEvent,
  gatewayLeg,
  Harness,
  HOUR,
  MIN,
  mergeByTime,
  rng,
  source,
  T0,
} from '../../helpers/events.js';

const ATTACK = T0 + 2 * DAY + 14 * HOUR + 7 * MIN + 13_000;

const policy = new PipelinePolicyEvaluator(
  {
    defaultAction: 'allow',
    policies: [{ name: 'app-a-egress', source: { namespace: 'app-a' }, allow: ['*.ibm.com'] }],
  },
  'policy.yaml',
);

function run(attack: EgressEvent[], seed = 1): Finding[] {
  return new Harness({ learningPeriod: '24h' }, [policy])
    .feed(
      mergeByTime(
        benignTraffic(3, seed),
        attack.flatMap((e) => [e, gatewayLeg(e)]),
      ),
    )
    .finish()
    .of('volume-spike');
}

/** `perMinute(minute)` bytes up each minute for `minutes`, in `calls` calls a minute to `host(i)`. */
function upload(
  minutes: number,
  perMinute: (minute: number) => number,
  host: (call: number) => string = () => 'www.ibm.com',
  calls = 10,
): EgressEvent[] {
  const out: EgressEvent[] = [];
  let n = 0;
  for (let m = 0; m < minutes; m++)
    for (let c = 0; c < calls; c++) {
      const h = host(n++);
      out.push(
        egressEvent({
          time: ATTACK + m * MIN + c * (MIN / calls),
          destination: destination(h, { registeredDomain: h.split('.').slice(-2).join('.') }),
          bytesUp: Math.round(perMinute(m) / calls),
        }),
      );
    }
  return out;
}

describe('volume-spike relative to the key baseline', { timeout: 30_000 }, () => {
  it.each([1, 2, 3, 4])('raises nothing on three benign days (seed %i)', (seed) => {
    expect(run([], seed).map((f) => f.reason)).toEqual([]);
  });

  it('finds 0.5-1 MB a minute for 20 minutes to an allowed host whose busiest minute is about 40 kB, once', () => {
    const r = rng(5);
    const spikes = run(upload(20, () => 500_000 + r() * 500_000));
    expect(spikes).toHaveLength(1);
    const f = spikes[0] as Finding;
    expect(f.time - ATTACK).toBeLessThan(2 * MIN);
    expect(f.evidence.scope).toBe('host');
    expect(f.reason).toMatch(
      /^allowed host, \d+x normal upload: app-a\/app-a sent [\d.]+ [kM]B to www\.ibm\.com in (1|10) min; usually at most [\d.]+ kB in \1 min at this hour\.$/,
    );
    expect(f.evidence.baselineMedian as number).toBeGreaterThan(20_000);
    expect(f.evidence.baselineMedian as number).toBeLessThan(80_000);
  });

  it('finds 15 MB spread over an hour that shows in no single minute, in a longer window', () => {
    const spikes = run(upload(60, () => 250_000));
    expect(spikes).toHaveLength(1);
    expect(spikes[0]?.evidence.window).not.toBe('1m');
    expect(spikes[0]?.reason).toMatch(/in (10 min|1 h); usually at most/);
  });

  it('finds a jump from 2 to 250 requests a minute', () => {
    const agent = source('monitoring', 'metrics-agent');
    const calls: EgressEvent[] = [];
    for (let i = 0; i < 250 * 3; i++)
      calls.push(
        egressEvent({ time: ATTACK + i * 240, source: agent, host: 'metrics.datadoghq.com', bytesUp: 200 }),
      );
    const spikes = run(calls);
    expect(spikes).toHaveLength(1);
    expect(spikes[0]?.evidence.metric).toBe('requests');
    expect(spikes[0]?.reason).toMatch(
      /x normal requests: monitoring\/metrics-agent sent \d+ requests to metrics\.datadoghq\.com in 1 min/,
    );
  });

  it("finds an upload spread over new hosts of many domains in the identity's total, once", () => {
    const spikes = run(
      upload(
        20,
        () => 400_000,
        (i) => `up${i % 40}.store${i % 40}.net`,
      ),
    );
    expect(spikes).toHaveLength(1);
    expect(spikes[0]?.evidence.scope).toBe('identity');
    expect(spikes[0]?.destination).toBeNull();
    expect(spikes[0]?.reason).toMatch(
      /^all external destinations, [\d.]+x normal upload: app-a\/app-a sent .* to all its external destinations in/,
    );
  });

  it('finds an upload spread over subdomains of one domain as one domain-wide spike', () => {
    const spikes = run(
      upload(
        20,
        () => 900_000,
        (i) => `s${i % 20}.ibm.com`,
      ),
    );
    expect(spikes).toHaveLength(1);
    expect(['registrable-domain', 'identity']).toContain(spikes[0]?.evidence.scope);
  });

  it('stays quiet for an upload twice the usual peak', () => {
    expect(
      run(
        upload(
          20,
          () => 60_000,
          () => 'www.ibm.com',
          20,
        ),
      ),
    ).toEqual([]);
  });
});
