import { describe, expect, it } from 'vitest';
import { workloadOfPod } from '../../src/identity/ambient.js';
import { LineDecoder } from '../../src/parse/decoder.js';
import { AmbientMesh, k8sPodName, renderZtunnel, type ZtunnelSimRecord } from '../../src/simulate/ambient.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import { Cluster, DAY } from '../../src/simulate/topology.js';
import { CollectingSink } from '../parse/collecting-sink.js';

const START = Date.parse('2025-03-03T00:00:00Z');

describe('simulated ambient mesh', () => {
  it('spells pod names as Kubernetes does, so the workload read back from ztunnel records is the workload', () => {
    for (const pod of new Cluster(3, START, START + 2 * DAY).pods) {
      const name = k8sPodName(pod);
      expect(workloadOfPod(name), name).toBe(pod.spec.workload);
    }
  });

  it('renders ztunnel records that the ztunnel parser reads back field for field, TEXT and JSON', () => {
    const mesh = new AmbientMesh('ambient', 1, START, START + DAY);
    const traffic = generateTraffic({ start: START, durationMs: 30 * 60_000, seed: 1, rate: 60 });
    let seen = 0;
    for (const r of traffic.records()) {
      const z = mesh.convert(r);
      if (!('kind' in z)) continue;
      const rec = z as ZtunnelSimRecord;
      for (const format of ['text', 'json'] as const) {
        const sink = new CollectingSink();
        new LineDecoder().decode(renderZtunnel(rec, format), sink);
        expect(sink.bad).toEqual([]);
        const got = sink.records[0]?.record;
        expect(got?.ztunnel).toMatchObject({
          srcAddr: rec.srcAddr,
          srcWorkload: rec.srcWorkload,
          srcIdentity: rec.srcIdentity,
          dstAddr: rec.dstAddr,
          dstHboneAddr: rec.dstHboneAddr,
          dstService: rec.dstService,
          direction: rec.direction,
          error: rec.error,
        });
        expect(got?.startTime).toBe(rec.start);
        expect(got?.durationMs).toBe(rec.duration);
      }
      seen++;
    }
    expect(seen).toBeGreaterThan(100);
  });

  it('an ambient mesh logs no sidecar line and no egress-gateway line; a mixed one keeps them for its sidecar namespaces', () => {
    const lines = (dataplane: 'ambient' | 'mixed') => [
      ...generateTraffic({
        start: START,
        durationMs: 3 * 3_600_000,
        seed: 2,
        rate: 60,
        format: 'text',
        dataplane,
        attacks: ['bypass', 'blocked-probing'],
        attackStart: START + 60 * 60_000,
      }),
    ];
    const ambient = lines('ambient');
    expect(ambient.some((l) => l.includes('outbound|') || l.includes('BlackHoleCluster'))).toBe(false);
    // The database is plain TCP on 27017 (simulate/benign.ts EGRESS_SHAPES).
    expect(ambient.some((l) => l.includes('inbound-vip|27017|tcp|mongo1.composedb.com'))).toBe(true);
    // REGISTRY_ONLY does not apply to ztunnel: probes leave the mesh and are refused by the targets.
    expect(ambient.some((l) => l.includes('error="io error: Connection refused (os error 111)"'))).toBe(true);
    const mixed = lines('mixed');
    // app B keeps its sidecar (and REGISTRY_ONLY), app A is ambient.
    expect(mixed.some((l) => l.includes('BlackHoleCluster'))).toBe(true);
    expect(mixed.some((l) => l.includes('src.namespace="app-a"'))).toBe(true);
    expect(mixed.some((l) => l.includes('src.namespace="app-b"'))).toBe(false);
    expect(mixed.some((l) => l.includes('|istio-egressgateway.istio-system.svc.cluster.local'))).toBe(true);
  });

  it('says in the manifest how each attack plays out on the mesh', () => {
    const manifest = (dataplane: 'ambient' | 'mixed') =>
      generateTraffic({
        start: START,
        durationMs: DAY,
        seed: 2,
        dataplane,
        attacks: ['blocked-probing', 'bypass'],
      }).manifest;
    const probing = (m: ReturnType<typeof manifest>) => m.attacks.find((a) => a.name === 'blocked-probing');
    expect(probing(manifest('ambient'))?.rule).toBe('gateway-bypass');
    expect(probing(manifest('mixed'))?.rule).toBe('blocked-egress');
    expect(manifest('ambient').dataplane).toBe('ambient');
  });
});
