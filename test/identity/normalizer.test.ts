import { describe, expect, it } from 'vitest';
import { MeshConfigSchema } from '../../src/identity/config.js';
import { copyEvent, Normalizer } from '../../src/identity/normalizer.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { EnvoyTextParser } from '../../src/parse/envoy-text.js';
import { newAccessRecord, newShipperMeta, type ShipperMeta } from '../../src/parse/types.js';
import { loadFixtures } from '../fixtures/load.js';

const lines = new Map([...loadFixtures('reference-lines.txt'), ...loadFixtures('synthetic-lines.txt')]);
const origin = { source: 'kafka:egress', position: '0/42' };

function event(n: Normalizer, id: string, meta: Partial<ShipperMeta> = {}): EgressEvent {
  const rec = newAccessRecord();
  const out = new EnvoyTextParser().parse(lines.get(id)?.line ?? '', rec);
  if (out.kind !== 'access') throw new Error(`${id}: ${JSON.stringify(out)}`);
  return copyEvent(n.normalize(rec, { ...newShipperMeta(), ...meta }, origin));
}
const sleep: Partial<ShipperMeta> = {
  namespace: 'default',
  workload: 'sleep',
  pod: 'sleep-5c6bd9b8d4-q8wz7',
  podIp: '10.244.0.67',
};
const egressGw: Partial<ShipperMeta> = {
  namespace: 'istio-system',
  pod: 'istio-egressgateway-6c9f7b8d4-x2k9q',
  istioLabel: 'egressgateway',
};
const mesh = () => new Normalizer(MeshConfigSchema.parse({}));

describe('Normalizer path classification', () => {
  it('classifies a sidecar line to a BlackHoleCluster as blackhole, destination from DOWNSTREAM_LOCAL_ADDRESS', () => {
    const e = event(mesh(), 'L11', sleep);
    expect(e).toMatchObject({
      reporter: 'sidecar',
      path: 'blackhole',
      protocol: 'tcp',
      origin: 'kafka:egress/0/42',
    });
    expect(e.destination).toEqual({
      host: null,
      registeredDomain: null,
      ip: '142.251.36.4',
      port: 443,
      external: true,
    });
  });

  it('classifies the HTTP 502 direct_response of REGISTRY_ONLY as blackhole', () => {
    const e = event(mesh(), 'L15', sleep);
    expect(e.path).toBe('blackhole');
    expect(e.destination).toMatchObject({
      host: 'www.baidu.com',
      registeredDomain: 'baidu.com',
      ip: '180.97.34.94',
      port: 80,
    });
  });

  it('classifies PassthroughCluster as passthrough, with the IP only for TCP and the authority for HTTP', () => {
    expect(event(mesh(), 'L12', sleep)).toMatchObject({
      path: 'passthrough',
      destination: {
        host: null,
        ip: '151.101.131.5',
        port: 443,
        external: true,
      },
    });
    expect(event(mesh(), 'L14', sleep)).toMatchObject({
      path: 'passthrough',
      protocol: 'http',
      destination: { host: 'httpbin.localhost' },
    });
  });

  it('classifies a sidecar cluster for an external host as direct-external and takes the SNI as host', () => {
    const e = event(mesh(), 'L13b', sleep);
    expect(e).toMatchObject({
      path: 'direct-external',
      protocol: 'tls',
      cluster: 'outbound|443||www.google.com',
    });
    expect(e.destination).toEqual({
      host: 'www.google.com',
      registeredDomain: 'google.com',
      ip: '142.251.36.4',
      port: 443,
      external: true,
    });
  });

  it('classifies the sidecar leg to the egress gateway and keeps the real destination, not the gateway', () => {
    const e = event(mesh(), 'S123', sleep);
    expect(e.path).toBe('sidecar-to-gateway');
    expect(e.cluster).toBe('outbound|443|stripe|istio-egressgateway.istio-system.svc.cluster.local');
    expect(e.destination).toEqual({
      host: 'api.stripe.com',
      registeredDomain: 'stripe.com',
      ip: '34.1.2.3',
      port: 443,
      external: true,
    });
  });

  it('classifies an in-mesh call as internal and the server side as inbound, ignoring the Istio mTLS SNI', () => {
    const out = event(mesh(), 'L8', sleep);
    expect(out).toMatchObject({
      path: 'internal',
      destination: { host: 'httpbin', external: false, registeredDomain: null },
    });
    const inbound = event(mesh(), 'L9', {
      namespace: 'foo',
      workload: 'httpbin',
      pod: 'httpbin-1-abcde',
    });
    expect(inbound.path).toBe('inbound');
    expect(inbound.destination.host).toBe('httpbin');
  });

  it('classifies egress-gateway lines as gateway-to-external from the istio label', () => {
    const e = event(mesh(), 'L2', egressGw);
    expect(e).toMatchObject({
      reporter: 'egress-gateway',
      path: 'gateway-to-external',
      protocol: 'tls',
    });
    expect(e.destination).toMatchObject({
      host: 'edition.cnn.com',
      registeredDomain: 'cnn.com',
      ip: '151.101.195.5',
      port: 443,
    });
  });

  it('recognises a gateway-api gateway by its gateway-name label', () => {
    expect(
      event(mesh(), 'L1', {
        gatewayName: 'cnn-egress-gateway',
        pod: 'cnn-egress-gateway-istio-7f9c8d6b5-x2k9q',
      }).reporter,
    ).toBe('egress-gateway');
  });

  it('recognises gateway lines without metadata from the line itself', () => {
    expect(event(mesh(), 'L13gw').reporter).toBe('egress-gateway'); // :8443 listener
    expect(event(mesh(), 'L1').reporter).toBe('egress-gateway'); // upstream local IP == downstream local IP
    expect(event(mesh(), 'L13').reporter).toBe('sidecar');
  });

  it('honours configured mesh domains and CIDRs', () => {
    const n = new Normalizer(
      MeshConfigSchema.parse({
        meshDomains: ['cluster.local', 'corp.internal'],
        meshCidrs: ['151.101.0.0/16'],
      }),
    );
    expect(event(n, 'L12', sleep).destination.external).toBe(false);
  });
});

describe('Normalizer source attribution', () => {
  it('attributes sidecar lines to namespace/workload from metadata', () => {
    const e = event(mesh(), 'L13', sleep);
    expect(e.source).toEqual({
      principal: null,
      principalSource: null,
      namespace: 'default',
      workload: 'sleep',
      pod: 'sleep-5c6bd9b8d4-q8wz7',
      ip: '10.244.0.67',
      attribution: 'metadata',
      key: 'default/sleep',
    });
  });

  it('attributes a gateway line without a principal to the workload whose pod IP a sidecar line revealed', () => {
    const n = mesh();
    event(n, 'L13', sleep); // sleep at 10.244.0.67
    const gw = event(n, 'L13gw', egressGw); // caller 10.244.0.67:60140
    expect(gw.source).toMatchObject({
      attribution: 'pod-ip',
      namespace: 'default',
      workload: 'sleep',
      key: 'default/sleep',
      ip: '10.244.0.67',
    });
  });

  it('gives a reused pod IP to its newest owner by event time', () => {
    const n = mesh();
    event(n, 'L13', { ...sleep, workload: 'old-app', pod: 'old-app-1' }); // 10:25
    event(n, 'L13b', sleep); // 10:36, same IP, new owner
    expect(event(n, 'L13gw', egressGw).source.workload).toBe('sleep'); // 12:14
    expect(n.workloads.lookup('10.244.0.67', Date.parse('2023-11-01T10:30:00Z'))?.workload).toBe('old-app');
  });

  it('leaves an unknown caller as unknown/<ip>', () => {
    expect(event(mesh(), 'L2', egressGw).source).toMatchObject({
      attribution: 'unknown',
      key: 'unknown/172.30.239.15',
    });
  });

  it('uses the SPIFFE principal at the gateway and maps it to the workload when the pod IP agrees', () => {
    const n = mesh();
    const rec = newAccessRecord();
    new EnvoyTextParser().parse(lines.get('L13gw')?.line ?? '', rec);
    rec.peerPrincipal = 'spiffe://cluster.local/ns/default/sa/sleep-sa';
    const before = copyEvent(n.normalize(rec, { ...newShipperMeta(), ...egressGw }, origin));
    expect(before.source).toMatchObject({
      attribution: 'principal',
      namespace: 'default',
      workload: null,
      key: 'spiffe://cluster.local/ns/default/sa/sleep-sa',
    });
    event(n, 'L13', sleep);
    const after = n.normalize(rec, { ...newShipperMeta(), ...egressGw }, origin);
    expect(after.source).toMatchObject({
      attribution: 'principal',
      workload: 'sleep',
      key: 'default/sleep',
      principal: 'spiffe://cluster.local/ns/default/sa/sleep-sa',
    });
  });
});
