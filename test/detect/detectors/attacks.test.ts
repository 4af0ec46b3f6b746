/**
 * Each detector fires on its attack, injected into two days of benign traffic, within the time to
 * detect (event time from the attack's first event): 2 minutes, beaconing 30 minutes.
 */
import { describe, expect, it } from 'vitest';
import type { EgressEvent } from '../../../src/identity/types.js';
import { PipelinePolicyEvaluator } from '../../../src/policy/pipeline.js';
import {
  type BeaconShape,
  beaconCalls,
  benignTraffic,
  DAY,
  destination,
  egressEvent,
  gatewayLeg,
  Harness,
  HOUR,
  MIN,
  mergeByTime,
  source,
  T0,
} from '../../helpers/events.js';

const ATTACK = T0 + 2 * DAY + 14 * HOUR + 7 * MIN + 13_000;

function run(
  attack: EgressEvent[],
  config: Record<string, unknown> = {},
  policies: PipelinePolicyEvaluator[] = [],
): Harness {
  return new Harness({ learningPeriod: '24h', ...config }, policies)
    .feed(mergeByTime(benignTraffic(3), attack))
    .finish();
}

function firstDelay(h: Harness, rule: string): number {
  const f = h.of(rule)[0];
  expect(f, `${rule} should fire; got ${h.rules().join(', ')}`).toBeDefined();
  return (f?.time ?? 0) - ATTACK;
}

const policy = new PipelinePolicyEvaluator(
  {
    defaultAction: 'allow',
    policies: [
      { name: 'app-a-egress', source: { namespace: 'app-a' }, allow: ['*.ibm.com'] },
      { name: 'monitoring', source: { namespace: 'monitoring' }, allow: ['*.datadoghq.com'] },
      { name: 'app-b-db', source: { namespace: 'app-b' }, allow: ['mongo1.composedb.com'] },
    ],
  },
  'policy.yaml',
);

describe('detectors on their attacks', () => {
  it('forbidden-destination names the policy when app A reaches app B database', () => {
    const e = egressEvent({
      time: ATTACK,
      host: 'mongo1.composedb.com',
      destination: destination('mongo1.composedb.com', { port: 27017 }),
    });
    const h = run([e, gatewayLeg(e)], {}, [policy]);
    expect(firstDelay(h, 'forbidden-destination')).toBeLessThan(2 * MIN);
    expect(h.of('forbidden-destination')[0]?.evidence.policy).toBe('app-a-egress');
    expect(h.rules()).not.toContain('volume-spike');
  });

  it('forbidden-destination counts a connection once when its sidecar leg carries the learned principal', () => {
    const app = source('app-a', 'app-a', {
      principal: 'spiffe://cluster.local/ns/app-a/sa/app-a',
      principalSource: 'learned',
    });
    const legs = [0, 1, 2].flatMap((i) => {
      const e = egressEvent({ time: ATTACK + i * MIN, host: 'mongo1.composedb.com', source: app });
      const gw = gatewayLeg(e);
      gw.source = { ...gw.source, workload: 'app-a', key: 'app-a/app-a' };
      return [e, gw];
    });
    const h = run(legs, {}, [policy]);
    expect(h.of('forbidden-destination').map((f) => f.path)).toEqual([
      'sidecar-to-gateway',
      'sidecar-to-gateway',
      'sidecar-to-gateway',
    ]);
  });

  it('forbidden-destination judges the gateway leg of a caller whose sidecar logs are silent', () => {
    // Other workloads' sidecar legs keep flowing (benign traffic), app-c's sidecar logs nothing.
    const e = egressEvent({
      time: ATTACK,
      host: 'mongo1.composedb.com',
      source: source('app-c', 'app-c', { ip: '10.0.0.77' }),
    });
    const gw = gatewayLeg(e);
    gw.source = { ...gw.source, workload: 'app-c', key: 'app-c/app-c' };
    const deny = new PipelinePolicyEvaluator(
      {
        defaultAction: 'allow',
        policies: [{ name: 'app-c-none', source: { namespace: 'app-c' }, allow: [] }],
      },
      'policy.yaml',
    );
    const h = run([gw], {}, [deny]);
    expect(h.of('forbidden-destination')[0]?.source.key).toBe('app-c/app-c');
  });

  it('gateway-bypass fires when the sidecar goes straight out via PassthroughCluster', () => {
    const e = egressEvent({
      time: ATTACK,
      path: 'passthrough',
      cluster: 'PassthroughCluster',
      host: 'www.ibm.com',
    });
    const h = run([e]);
    expect(firstDelay(h, 'gateway-bypass')).toBeLessThan(2 * MIN);
  });

  it('volume-spike fires on an upload spike to an allowed host and says it is allowed', () => {
    const spike: EgressEvent[] = [];
    for (let i = 0; i < 60; i++)
      spike.push(egressEvent({ time: ATTACK + i * 1000, host: 'www.ibm.com', bytesUp: 1_000_000 }));
    const h = run(
      spike.flatMap((e) => [e, gatewayLeg(e)]),
      {},
      [policy],
    );
    expect(firstDelay(h, 'volume-spike')).toBeLessThan(2 * MIN);
    expect(h.of('volume-spike')[0]?.reason).toMatch(/^allowed host, \d+x normal upload/);
  });

  it('new-destination fires on a new host inside the allowed wildcard *.ibm.com', () => {
    const e = egressEvent({ time: ATTACK, host: 'secrets.ibm.com' });
    const h = run([e], {}, [policy]);
    expect(firstDelay(h, 'new-destination')).toBeLessThan(2 * MIN);
    expect(h.of('new-destination')[0]?.reason).toContain('allowed by policy');
    expect(h.rules()).not.toContain('forbidden-destination');
  });

  it('beaconing fires on a new regular call pattern within 30 minutes', () => {
    const beacon: EgressEvent[] = [];
    for (let i = 0; i < 60; i++) {
      beacon.push(
        egressEvent({
          time: ATTACK + i * 60_000 + ((i * 7919) % 2000),
          host: 'cdn.update-check.net',
          bytesUp: 310,
          bytesDown: 1180,
        }),
      );
    }
    const h = run(beacon);
    expect(firstDelay(h, 'beaconing')).toBeLessThan(30 * MIN);
  });

  it.each<[string, BeaconShape]>([
    ['+-25 %', { periodMs: 5 * MIN, jitter: 0.25, style: 'symmetric' }],
    ['+-30 %', { periodMs: 5 * MIN, jitter: 0.3, style: 'symmetric' }],
    ['-30 % (Cobalt Strike style)', { periodMs: 5 * MIN, jitter: 0.3, style: 'cobalt' }],
  ])('beaconing catches a 5-minute beacon with %s jitter and varying sizes within 30 minutes, for several seeds', (_name, shape) => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const calls = beaconCalls(seed, ATTACK, 24, shape);
      const legs = calls.flatMap((c) => {
        const e = egressEvent({ ...c, host: 'sync.cdn-telemetry.io' });
        return [e, gatewayLeg(e)];
      });
      const h = run(legs);
      const f = h.of('beaconing')[0];
      expect(f, `seed ${seed}: beaconing should fire`).toBeDefined();
      expect(f?.source.key).toBe('app-a/app-a');
      // Time to detect from the attack's first event, in event time; at the sixth connection.
      expect((f?.time ?? 0) - ATTACK, `seed ${seed}`).toBeLessThan(30 * MIN);
      expect(f?.evidence.connections, `seed ${seed}`).toBeLessThanOrEqual(6);
      expect(f?.time).toBe((calls[5] as { time: number }).time);
    }
  });

  it('beaconing still fires on a beacon that made only two calls before learning ended', () => {
    // Fewer than three calls inside the learning period: not a pattern "running since the start".
    const start = T0 + DAY - 7 * MIN;
    const calls = beaconCalls(3, start, 24, { periodMs: 5 * MIN, jitter: 0.1, style: 'symmetric' });
    expect(calls.filter((c) => c.time < T0 + DAY).length).toBe(2);
    const legs = calls.flatMap((c) => {
      const e = egressEvent({ ...c, host: 'sync.cdn-telemetry.io' });
      return [e, gatewayLeg(e)];
    });
    const f = run(legs).of('beaconing')[0];
    expect(f, 'beaconing should fire').toBeDefined();
    expect((f?.time ?? 0) - start).toBeLessThan(30 * MIN);
  });

  it('high-cardinality-domain fires on a random-subdomain spray', () => {
    const spray: EgressEvent[] = [];
    for (let i = 0; i < 40; i++) {
      const label = `${(i * 2654435761).toString(36)}${(i * 40503).toString(16)}q7x`;
      spray.push(
        egressEvent({ time: ATTACK + i * 2000, path: 'passthrough', host: `${label}.exfil-data.net` }),
      );
    }
    const h = run(spray);
    expect(firstDelay(h, 'high-cardinality-domain')).toBeLessThan(2 * MIN);
  });

  it('blocked-egress fires on repeated probing that the mesh drops', () => {
    const probes: EgressEvent[] = [];
    for (let i = 0; i < 12; i++) {
      probes.push(
        egressEvent({
          time: ATTACK + i * 3000,
          path: 'blackhole',
          cluster: 'BlackHoleCluster',
          responseFlags: 'UH',
          destination: {
            host: null,
            registeredDomain: null,
            ip: `198.51.100.${i}`,
            port: 22 + i,
            external: true,
          },
        }),
      );
    }
    const h = run(probes);
    expect(firstDelay(h, 'blocked-egress')).toBeLessThan(2 * MIN);
  });

  it('gateway-silence fires when the gateway stops logging and resolves when it recovers', () => {
    // From ATTACK, for 10 minutes, gateway legs are missing: filter them out of the benign stream.
    const silentFrom = ATTACK;
    const silentTo = ATTACK + 10 * MIN;
    function* filtered(): Generator<EgressEvent> {
      for (const e of benignTraffic(3)) {
        if (e.reporter === 'egress-gateway' && e.time >= silentFrom && e.time < silentTo) continue;
        yield e;
      }
    }
    const h = new Harness({ learningPeriod: '24h' }).feed(filtered()).finish();
    const silence = h.of('gateway-silence');
    expect(firstDelay(h, 'gateway-silence')).toBeLessThan(2 * MIN);
    const resolved = silence.find((f) => f.status === 'resolved');
    expect(resolved?.time).toBeGreaterThan(silentTo);
    const alerts = h.alerts.filter((a) => a.rule.id === 'gateway-silence');
    expect(new Set(alerts.map((a) => a.alert.id)).size).toBe(1);
    expect(alerts.at(-1)?.alert.status).toBe('resolved');
  });

  it('gateway-silence with judgeSilence off (a scaled partition) leaves the silence to the mesh-wide evaluator', () => {
    function* filtered(): Generator<EgressEvent> {
      for (const e of benignTraffic(3)) {
        if (e.reporter === 'egress-gateway' && e.time >= ATTACK && e.time < ATTACK + 10 * MIN) continue;
        yield e;
      }
    }
    const h = new Harness({
      learningPeriod: '24h',
      detectors: { 'gateway-silence': { judgeSilence: false } },
    })
      .feed(filtered())
      .finish();
    expect(h.of('gateway-silence')).toEqual([]);
  });

  it('unaccounted-gateway-leg flags gateway legs the sidecar at their address did not send, one alert with a growing count', () => {
    // 10.0.0.10 is app A's pod, whose sidecar lines are read: gateway legs from it that its sidecar
    // never logged come from something else on that address, or from a forged identity.
    const forged: EgressEvent[] = [];
    for (let i = 0; i < 40; i++) {
      forged.push(
        egressEvent({
          time: ATTACK + i * 5000,
          reporter: 'egress-gateway',
          path: 'gateway-to-external',
          host: 'mongo1.composedb.com',
          downstreamRemoteAddress: `10.0.0.10:${40_000 + i}`,
          source: {
            ...source('app-b', 'app-b'),
            principal: 'spiffe://cluster.local/ns/app-b/sa/app-b',
            ip: '10.0.0.10',
            key: 'spiffe://cluster.local/ns/app-b/sa/app-b',
            attribution: 'principal',
          },
        }),
      );
    }
    const h = run(forged);
    expect(firstDelay(h, 'unaccounted-gateway-leg')).toBeLessThan(2 * MIN);
    expect(h.of('unaccounted-gateway-leg')[0]?.evidence.kind).toBe('unaccounted-gateway-legs');
    expect(h.of('gateway-silence')).toEqual([]);
    const alerts = h.alerts.filter((a) => a.rule.id === 'unaccounted-gateway-leg');
    expect(new Set(alerts.map((a) => a.alert.id)).size).toBe(1);
    expect(alerts.at(-1)?.alert.repeats).toBeGreaterThan(10);
    // A scaled partition keeps the per-client reasons.
    const partition = run(forged, { detectors: { 'gateway-silence': { judgeSilence: false } } });
    expect(partition.of('unaccounted-gateway-leg')[0]?.evidence.kind).toBe('unaccounted-gateway-legs');
  });

  it('calls gateway legs from an address no sidecar in the input uses an unknown client, not unaccounted', () => {
    // No sidecar that would have sent them is in the input: not "unaccounted"; a client outside the
    // mesh when every sidecar's lines are collected, nothing when only some are (unknownClients: ignore).
    const unread: EgressEvent[] = [];
    for (let i = 0; i < 10; i++) {
      unread.push(
        egressEvent({
          time: ATTACK + i * 5000,
          reporter: 'egress-gateway',
          path: 'gateway-to-external',
          host: 'mongo1.composedb.com',
          downstreamRemoteAddress: `192.168.7.7:${40_000 + i}`,
          source: {
            ...source('app-b', 'app-b'),
            principal: 'spiffe://cluster.local/ns/app-b/sa/app-b',
            ip: '192.168.7.7',
            key: 'spiffe://cluster.local/ns/app-b/sa/app-b',
            attribution: 'principal',
          },
        }),
      );
    }
    const h = run(unread);
    expect(h.of('unaccounted-gateway-leg').map((f) => f.evidence.kind)).toContain('unknown-client');
    expect(h.of('unaccounted-gateway-leg').map((f) => f.evidence.kind)).not.toContain(
      'unaccounted-gateway-legs',
    );
    expect(h.of('gateway-silence')).toEqual([]);
    const partial = run(unread, { detectors: { 'gateway-silence': { unknownClients: 'ignore' } } });
    expect(partial.of('unaccounted-gateway-leg')).toEqual([]);
  });
});
