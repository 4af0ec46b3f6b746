import { describe, expect, it } from 'vitest';
import { newEgressEvent } from '../../src/identity/event.js';
import { decodeEvent } from '../../src/scale/event-codec.js';
import { type PartitionBy, Rekeyer, STREAM_IDLE_MS } from '../../src/scale/rekey.js';
import { generateTraffic } from '../../src/simulate/generate.js';

const MESH = {
  meshCidrs: ['10.0.0.0/8'],
  meshDomains: ['cluster.local'],
  egressGatewayHosts: ['istio-egressgateway.istio-system.svc.cluster.local'],
};

function traffic(): string[] {
  return [
    ...generateTraffic({
      start: Date.parse('2025-03-03T08:00:00.000Z'),
      durationMs: 20 * 60_000,
      rate: 300,
      format: 'json',
      envelope: 'fluent-bit',
      seed: 11,
      attacks: [],
    }),
  ];
}

interface Leg {
  key: string;
  path: string;
  namespace: string | null;
  principal: string | null;
  sourceKey: string;
}

/**
 * Two stage-1 instances, the way node-keyed input splits them at worst: one reads only the
 * egress gateway's lines (and never a sidecar line, so it cannot learn any pod IP or pairing),
 * the other reads everything else.
 */
function rekeyApart(lines: string[], by: PartitionBy): Leg[] {
  const gatewayLines = lines.filter((l) => l.includes('"pod_name":"istio-egressgateway'));
  const sidecarLines = lines.filter((l) => !l.includes('"pod_name":"istio-egressgateway'));
  const legs: Leg[] = [];
  const e = newEgressEvent();
  for (const [n, part] of [gatewayLines, sidecarLines].entries()) {
    const out = new Rekeyer({ format: 'json' }, MESH, 60_000, by).rekey(part, `kafka:in/${n}`, String);
    for (const m of out.messages) {
      decodeEvent(String(m.value), e);
      if (e.path !== 'sidecar-to-gateway' && e.path !== 'gateway-to-external') continue;
      legs.push({
        key: String(m.key),
        path: e.path,
        namespace: e.source.namespace,
        principal: e.source.principal,
        sourceKey: e.source.key,
      });
    }
  }
  return legs;
}

describe('Rekeyer partition key', () => {
  it('puts a gateway leg known only by its SPIFFE principal on its sidecar legs partition key, even when no pairing was learned', () => {
    const legs = rekeyApart(traffic(), 'namespace');
    const gateway = legs.filter((l) => l.path === 'gateway-to-external');
    const sidecar = legs.filter((l) => l.path === 'sidecar-to-gateway');
    expect(gateway.length).toBeGreaterThan(100);
    expect(sidecar.length).toBeGreaterThan(100);
    // The gateway-only instance never saw a sidecar line: its legs keep the bare principal as identity...
    expect(gateway.every((l) => l.sourceKey.startsWith('spiffe://'))).toBe(true);
    // ...yet each is keyed by the principal's namespace, which is what its sidecar legs are keyed by.
    const sidecarKeys = new Map(sidecar.map((l) => [l.namespace, l.key]));
    for (const g of gateway) {
      const ns = /\/ns\/([^/]+)\//.exec(g.principal ?? '')?.[1];
      expect(g.key).toBe(ns);
      expect(sidecarKeys.get(ns ?? '')).toBe(g.key);
    }
    expect(new Set(gateway.map((l) => l.key))).toEqual(new Set(sidecar.map((l) => l.key)));
  });

  it('splits the two legs when partitioning by identity and nothing was learned (the measured gap)', () => {
    const legs = rekeyApart(traffic(), 'identity');
    const gatewayKeys = new Set(legs.filter((l) => l.path === 'gateway-to-external').map((l) => l.key));
    const sidecarKeys = new Set(legs.filter((l) => l.path === 'sidecar-to-gateway').map((l) => l.key));
    expect([...gatewayKeys].some((k) => sidecarKeys.has(k))).toBe(false);
  });

  it('re-keys the gateway leg to the sidecar identity once one instance saw both the pod IP and the principal', () => {
    const lines = traffic();
    const out = new Rekeyer({ format: 'json' }, MESH, 60_000, 'namespace').rekey(lines, 'kafka:in/0', String);
    const e = newEgressEvent();
    const late: string[] = [];
    for (const m of out.messages.slice(Math.floor(out.messages.length / 2))) {
      decodeEvent(String(m.value), e);
      if (e.path === 'gateway-to-external') late.push(e.source.key);
    }
    expect(late.length).toBeGreaterThan(50);
    expect(late.filter((k) => k.startsWith('spiffe://'))).toEqual([]);
  });

  it('tallies gateway and sidecar legs per window, holds event time back at first, and reports idleness', () => {
    const lines = traffic();
    let now = 0;
    const r = new Rekeyer({ format: 'json' }, MESH, 60_000, 'namespace', () => now);
    const out = r.rekey(lines, 'kafka:in', (i) => `0/${i}`);
    const e = newEgressEvent();
    let sidecar = 0;
    let gateway = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    for (const m of out.messages) {
      decodeEvent(String(m.value), e);
      if (e.path === 'sidecar-to-gateway') sidecar++;
      if (e.path === 'gateway-to-external' && e.reporter === 'egress-gateway') gateway++;
      min = Math.min(min, e.time);
      max = Math.max(max, e.time);
    }
    // Right after the first line its input partitions may not all have delivered: the oldest time.
    now = 1000;
    const tally = r.takeGatewayTally();
    const sums = [...tally.counts.values()].reduce(
      (s, c) => ({ s: s.s + c.sidecarToGateway, g: s.g + c.gateway }),
      { s: 0, g: 0 },
    );
    expect(sums).toEqual({ s: sidecar, g: gateway });
    expect([...tally.counts.keys()].every((w) => w % 60_000 === 0)).toBe(true);
    expect(tally.idle).toBe(false);
    expect(tally.maxTime).toBeLessThanOrEqual(min);
    expect(tally.maxTime).toBeGreaterThan(min - 60_000);
    // Later, with nothing read meanwhile: idle, no counts, and everything read is in.
    now = STREAM_IDLE_MS + 2000;
    const next = r.takeGatewayTally();
    expect(next.idle).toBe(true);
    expect(next.counts.size).toBe(0);
    expect(next.maxTime).toBeGreaterThanOrEqual(max);
  });

  it('reports the event time of its slowest busy input partition, so a partition that drained ahead does not close windows early', () => {
    const lines = traffic();
    const timeOf = (l: string): number => Date.parse((JSON.parse(l) as { time: string }).time);
    const start = timeOf(lines[0] as string);
    const ahead = lines.filter((l) => timeOf(l) < start + 10 * 60_000);
    const behind = lines.filter((l) => timeOf(l) < start + 2 * 60_000);
    let now = 0;
    const r = new Rekeyer({ format: 'json' }, MESH, 60_000, 'namespace', () => now);
    r.rekey(ahead, 'kafka:in', (i) => `0/${i}`);
    r.rekey(behind, 'kafka:in', (i) => `1/${i}`);
    now = STREAM_IDLE_MS;
    const both = r.takeGatewayTally();
    expect(both.maxTime).toBeGreaterThan(start + 60_000);
    expect(both.maxTime).toBeLessThan(start + 2 * 60_000 + 10_000);
    // Partition 1 delivers nothing for longer than STREAM_IDLE_MS: partition 0 alone sets the pace.
    now = 2 * STREAM_IDLE_MS + 1000;
    r.rekey(ahead.slice(-10), 'kafka:in', (i) => `0/${i + ahead.length}`);
    expect(r.takeGatewayTally().maxTime).toBeGreaterThan(start + 9 * 60_000);
  });

  it("names each batch's input partition and how far it was read, as its events' origins name it", () => {
    const lines = traffic();
    const r = new Rekeyer({ format: 'json' }, MESH);
    const first = r.rekey(lines.slice(0, 500), 'kafka:mesh-logs', (i) => `3/${1000 + i}`);
    const event = newEgressEvent();
    const times = first.messages.map((m) => decodeEvent(m.value as string, event).time);
    // Stage 2 tells input streams apart by the origin up to its offset: the mark must use that name.
    const origin = decodeEvent(first.messages[0]?.value as string, event).origin;
    expect(origin.slice(0, origin.lastIndexOf('/'))).toBe('kafka:mesh-logs/3');
    // The newest event time read (egress or not, so at least the newest egress event's).
    expect(r.progress?.stream).toBe('kafka:mesh-logs/3');
    expect(r.progress?.time).toBeGreaterThanOrEqual(Math.max(...times));
    expect(r.progress?.time).toBeLessThan(Math.max(...times) + 60_000);
    // A later batch of older lines does not move it back.
    const maxBefore = r.progress?.time;
    r.rekey(lines.slice(0, 10), 'kafka:mesh-logs', (i) => `3/${2000 + i}`);
    expect(r.progress?.time).toBe(maxBefore);
    r.rekey(['not an access log'], 'kafka:mesh-logs', () => '7/1');
    // A partition whose lines had no event time has no progress to tell.
    expect(r.progress).toBeNull();
  });
});
