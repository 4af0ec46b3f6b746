import { describe, expect, it } from 'vitest';
import { ATTACK_NAMES, type AttackName } from '../../src/simulate/attacks.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import type { SimRecord } from '../../src/simulate/record.js';
import { DAY } from '../../src/simulate/topology.js';

const traffic = generateTraffic({ durationMs: DAY, attacks: ATTACK_NAMES, format: 'json' });
const records = [...traffic.records()];
const lines = [...traffic];
const entry = (name: AttackName) => {
  const e = traffic.manifest.attacks.find((a) => a.name === name);
  if (e === undefined) throw new Error(`no manifest entry for ${name}`);
  return e;
};
const during = (name: AttackName, pick: (r: SimRecord) => boolean) => {
  const e = entry(name);
  return records.filter((r) => r.start >= Date.parse(e.start) && r.start < Date.parse(e.end) && pick(r));
};
const isGateway = (r: SimRecord) => r.reporter.spec.kind === 'gateway';
const ns = (r: SimRecord) => r.reporter.spec.namespace;

describe('attacks', () => {
  it('lists every attack in the manifest with its start, source, destination and expected rule', () => {
    expect(traffic.manifest.attacks.map((a) => a.name).sort()).toEqual([...ATTACK_NAMES].sort());
    const rules = Object.fromEntries(traffic.manifest.attacks.map((a) => [a.name, a.rule]));
    expect(rules).toMatchObject({
      forbidden: 'forbidden-destination',
      bypass: 'gateway-bypass',
      'upload-spike': 'volume-spike',
      'new-host': 'new-destination',
      beaconing: 'beaconing',
      'subdomain-spray': 'high-cardinality-domain',
      'gateway-silence': 'gateway-silence',
      'blocked-probing': 'blocked-egress',
      impersonation: 'unaccounted-gateway-leg',
    });
    for (const a of traffic.manifest.attacks) {
      expect(Date.parse(a.start)).toBeGreaterThanOrEqual(Date.parse(traffic.manifest.start) + DAY / 2);
      expect(Date.parse(a.end)).toBeLessThanOrEqual(Date.parse(traffic.manifest.end));
    }
    // Nothing attack-like happens before the first attack starts: the learning half is benign.
    const first = Math.min(...traffic.manifest.attacks.map((a) => Date.parse(a.start)));
    const early = records.filter((r) => r.start < first);
    expect(early.some((r) => r.cluster === 'PassthroughCluster' || r.cluster === 'BlackHoleCluster')).toBe(
      false,
    );
  });

  it('forbidden: app A reaches mongo1.composedb.com through the gateway with its own principal', () => {
    const legs = during(
      'forbidden',
      (r) =>
        isGateway(r) &&
        r.sni === 'mongo1.composedb.com' &&
        r.peerUriSan === entry('forbidden').source.principal,
    );
    expect(legs.length).toBeGreaterThanOrEqual(10);
    expect(lines.some((l) => l.includes('"mongo1.composedb.com"') && l.includes('/ns/app-a/sa/app-a'))).toBe(
      true,
    );
  });

  it('bypass: app A sidecar lines through PassthroughCluster, TLS by IP and HTTP by authority', () => {
    const legs = during('bypass', (r) => r.cluster === 'PassthroughCluster' && ns(r) === 'app-a');
    expect(legs.some((r) => r.authority === 'paste.drop-files.net' && r.route === 'allow_any')).toBe(true);
    expect(legs.some((r) => r.sni === '-' && r.authority === '-' && r.downstreamLocal.endsWith(':443'))).toBe(
      true,
    );
  });

  it("upload-spike: uploads to api.ibm.com far above the same source's usual bytes", () => {
    const usual = records.filter(
      (r) => isGateway(r) && r.sni === 'api.ibm.com' && r.start < Date.parse(entry('upload-spike').start),
    );
    const median = usual.map((r) => r.bytesReceived).sort((a, b) => a - b)[
      Math.floor(usual.length / 2)
    ] as number;
    const spike = during(
      'upload-spike',
      (r) => isGateway(r) && r.sni === 'api.ibm.com' && r.bytesReceived > 1_000_000,
    );
    expect(spike.length).toBeGreaterThanOrEqual(20);
    expect(Math.min(...spike.map((r) => r.bytesReceived))).toBeGreaterThan(1000 * median);
  });

  it('new-host: transfer.eu-de.ibm.com appears for the first time at the attack start, as HTTP through the gateway', () => {
    const hits = records.filter((r) => r.host === 'transfer.eu-de.ibm.com');
    expect(hits.every((r) => r.method === 'PUT' && r.requestId !== '-')).toBe(true);
    expect(hits.length).toBeGreaterThan(0);
    expect(Math.min(...hits.map((r) => r.start))).toBeGreaterThanOrEqual(Date.parse(entry('new-host').start));
  });

  it('beaconing: one pod, a 5-minute period within ±40 s, constant sizes', () => {
    const e = entry('beaconing');
    // Sidecar legs: the gateway's may be missing while the gateway is silent.
    const beacons = records.filter((r) => !isGateway(r) && r.sni === e.destination);
    expect(beacons.length).toBe(48);
    expect(new Set(beacons.map((r) => `${r.bytesReceived}/${r.bytesSent}`)).size).toBe(1);
    expect(new Set(beacons.map((r) => r.reporter.ip))).toEqual(new Set([e.source.ip]));
    const gaps = beacons.slice(1).map((r, i) => r.start - (beacons[i] as SimRecord).start);
    for (const gap of gaps) expect(Math.abs(gap - 300_000)).toBeLessThanOrEqual(40_000);
  });

  it('subdomain-spray: hundreds of distinct random subdomains of one domain via the gateway', () => {
    const hosts = new Set(
      during('subdomain-spray', (r) => isGateway(r) && r.sni.endsWith('.dns-exfil-lab.com')).map(
        (r) => r.sni,
      ),
    );
    expect(hosts.size).toBeGreaterThanOrEqual(250);
  });

  it('gateway-silence: no gateway lines in the window while sidecars keep sending to the gateway', () => {
    expect(during('gateway-silence', isGateway)).toEqual([]);
    const sidecarToGateway = during('gateway-silence', (r) => r.cluster.includes('|istio-egressgateway.'));
    expect(sidecarToGateway.length).toBeGreaterThan(100);
  });

  it('blocked-probing: repeated BlackHoleCluster drops from one app B pod', () => {
    const drops = during('blocked-probing', (r) => r.cluster === 'BlackHoleCluster');
    expect(drops.length).toBeGreaterThanOrEqual(40);
    expect(new Set(drops.map((r) => r.reporter.name)).size).toBe(1);
    expect(drops[0]?.reporter.spec.workload).toBe('app-b');
  });

  it('impersonation: gateway legs from a non-mesh IP with no peer principal and no sidecar leg', () => {
    const legs = during(
      'impersonation',
      (r) => isGateway(r) && r.downstreamRemote.startsWith('10.244.9.77:'),
    );
    expect(legs.length).toBeGreaterThanOrEqual(8);
    for (const r of legs) expect([r.peerUriSan, r.sni]).toEqual(['-', 'mongo1.composedb.com']);
    expect(records.some((r) => r.reporter.ip === '10.244.9.77')).toBe(false);
  });
});
