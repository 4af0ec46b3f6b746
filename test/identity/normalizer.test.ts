import { describe, expect, it } from 'vitest';
import { MeshConfigSchema } from '../../src/identity/config.js';
import { cloneEgressEvent } from '../../src/identity/event.js';
import { Normalizer } from '../../src/identity/normalizer.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { EnvoyTextParser } from '../../src/parse/envoy-text.js';
import { newAccessRecord, newShipperMeta, type ShipperMeta } from '../../src/parse/types.js';
import { loadFixtures } from '../fixtures/load.js';

const lines = new Map([
  ...loadFixtures('reference-lines.txt'),
  ...loadFixtures('synthetic-lines.txt'),
  ...loadFixtures('published-lines.txt'),
  ...loadFixtures('name-claims.txt'),
]);
const origin = { source: 'kafka:egress', position: '0/42' };

function event(n: Normalizer, id: string, meta: Partial<ShipperMeta> = {}): EgressEvent {
  const rec = newAccessRecord();
  const out = new EnvoyTextParser().parse(lines.get(id)?.line ?? '', rec);
  if (out.kind !== 'access') throw new Error(`${id}: ${JSON.stringify(out)}`);
  return cloneEgressEvent(n.normalize(rec, { ...newShipperMeta(), ...meta }, origin));
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
      nameUnverified: false,
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
      nameUnverified: false,
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
      nameUnverified: false,
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
    const before = cloneEgressEvent(n.normalize(rec, { ...newShipperMeta(), ...egressGw }, origin));
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

describe('Normalizer: inside or outside the mesh by address and cluster, not by name (#15)', () => {
  it.each([
    ['K8S', 'kubernetes.default.svc.cluster.local'],
    ['SNIX', 'x'],
    ['ISTIOSNI', 'outbound_.443_._.payments.prod.svc.cluster.local'],
  ])('%s: an in-mesh SNI on PassthroughCluster to 203.0.113.9 is external, named by its IP, the SNI kept as a claim', (id, sni) => {
    const e = event(mesh(), id, sleep);
    expect(e.path).toBe('passthrough');
    expect(e.destination).toEqual({
      host: null,
      registeredDomain: null,
      ip: '203.0.113.9',
      port: 443,
      external: true,
      nameUnverified: false,
    });
    expect(e.claim).toEqual({ kind: 'mesh-name-external-address', sni, authority: null });
  });

  it('POSTX: 50 MB posted with authority "x" through PassthroughCluster is external egress to the IP', () => {
    const e = event(mesh(), 'POSTX', sleep);
    expect(e).toMatchObject({ path: 'passthrough', protocol: 'http', bytesUp: 50_000_000 });
    expect(e.destination).toMatchObject({ host: null, ip: '203.0.113.9', port: 80, external: true });
    expect(e.claim).toEqual({ kind: 'mesh-name-external-address', sni: null, authority: 'x' });
  });

  it('FRONT: SNI and authority of different registrable domains are a claim; the SNI stays the host', () => {
    const e = event(mesh(), 'FRONT', egressGw);
    expect(e).toMatchObject({ reporter: 'egress-gateway', path: 'gateway-to-external' });
    expect(e.destination.host).toBe('www.ibm.com');
    expect(e.claim).toEqual({ kind: 'sni-authority-mismatch', sni: 'www.ibm.com', authority: 'evil.com' });
  });

  it('EXTNAME: a mesh service whose endpoint is outside the mesh leaves it; its cluster vouches for the name', () => {
    const e = event(mesh(), 'EXTNAME', sleep);
    expect(e.path).toBe('direct-external');
    expect(e.destination).toMatchObject({ host: 'billing-api', ip: '198.51.100.7', external: true });
    expect(e.claim).toBeNull();
  });

  it("keeps Istio's own mTLS SNI on in-mesh lines without a claim, and in-mesh lines internal", () => {
    const inbound = event(mesh(), 'I38213IN', {
      namespace: 'default',
      workload: 'httpbin',
      pod: 'httpbin-1',
    });
    expect(inbound).toMatchObject({ path: 'inbound', claim: null });
    expect(inbound.destination.external).toBe(false);
    const out = event(mesh(), 'I38213OUT', sleep);
    expect(out).toMatchObject({
      path: 'internal',
      claim: null,
      destination: { host: 'httpbin', external: false },
    });
  });

  it('marks a name only the client gave as unverified, and a name a cluster routes by as verified', () => {
    expect(event(mesh(), 'METADATA', sleep).destination).toMatchObject({
      host: 'metadata.google.internal',
      ip: '203.0.113.9',
      nameUnverified: true,
    });
    expect(event(mesh(), 'L14', sleep).destination.nameUnverified).toBe(true); // PassthroughCluster + authority
    expect(event(mesh(), 'L13', sleep).destination.nameUnverified).toBe(false); // outbound|80||httpbin.org
    expect(event(mesh(), 'SNI3', sleep).destination.nameUnverified).toBe(false); // routed to the gateway by SNI
    expect(event(mesh(), 'SNI1').destination.nameUnverified).toBe(false); // the gateway resolves the SNI itself
  });

  it('counts loopback as inside, never external', () => {
    const n = mesh();
    const rec = newAccessRecord();
    new EnvoyTextParser().parse(lines.get('L12')?.line ?? '', rec);
    rec.upstreamHost = '127.0.0.1:9200';
    rec.downstreamLocalAddress = '127.0.0.1:9200';
    const e = n.normalize(rec, { ...newShipperMeta(), ...sleep }, origin);
    expect(e.destination).toMatchObject({ ip: '127.0.0.1', port: 9200, external: false });
  });

  it('reads egress through InboundPassthroughCluster (external address) as passthrough, not inbound', () => {
    const rec = newAccessRecord();
    new EnvoyTextParser().parse(lines.get('L12')?.line ?? '', rec);
    rec.upstreamCluster = 'InboundPassthroughClusterIpv4';
    const e = mesh().normalize(rec, { ...newShipperMeta(), ...sleep }, origin);
    expect(e.path).toBe('passthrough');
    expect(e.destination).toMatchObject({ ip: '151.101.131.5', external: true });
    rec.downstreamLocalAddress = '10.244.0.67:8080';
    rec.upstreamHost = '10.244.0.67:8080';
    expect(mesh().normalize(rec, { ...newShipperMeta(), ...sleep }, origin).path).toBe('inbound');
  });

  it("reads Envoy's default `tcp://10.0.2.1:80` upstream as IP 10.0.2.1, port 80", () => {
    const e = event(mesh(), 'ENVOY');
    expect(e.destination).toMatchObject({ ip: '10.0.2.1', port: 80, host: 'locations', external: false });
  });
});

describe('Normalizer: egress gateways by configuration and by evidence (#13)', () => {
  it('SNI3: a sidecar leg to egressgateway.istio-egress is sidecar-to-gateway, destination the SNI and original IP', () => {
    const e = event(mesh(), 'SNI3', sleep);
    expect(e).toMatchObject({ reporter: 'sidecar', path: 'sidecar-to-gateway' });
    expect(e.destination).toEqual({
      host: 'en.wikipedia.org',
      registeredDomain: 'wikipedia.org',
      ip: '208.80.153.224',
      port: 443,
      external: true,
      nameUnverified: false,
    });
  });

  it("SNI1/SNI2: that gateway's internal-listener legs are gateway legs, not a sidecar's with IP `envoy`", () => {
    const n = mesh();
    const inner = event(n, 'SNI1');
    expect(inner).toMatchObject({ reporter: 'egress-gateway', path: 'gateway-to-external' });
    expect(inner.destination).toMatchObject({
      host: 'en.wikipedia.org',
      ip: '185.15.59.224',
      external: true,
    });
    expect(inner.source.ip).toBeNull();
    const outer = event(n, 'SNI2');
    expect(outer).toMatchObject({ reporter: 'egress-gateway', path: 'internal' });
    expect(outer.source.ip).toBe('172.17.34.35');
    expect(outer.claim).toBeNull();
  });

  it("SNI1 to a private endpoint: the SNI forwarder's leg out is egress by the name it dialled, not internal by its address", () => {
    const rec = newAccessRecord();
    new EnvoyTextParser().parse(lines.get('SNI1')?.line ?? '', rec);
    rec.upstreamHost = '172.25.33.172:443'; // en.wikipedia.org resolved to a private address
    // The gateway pod as the shipper names it (a bare line to a private address names no proxy).
    const gw = { ...newShipperMeta(), namespace: 'istio-egress', pod: 'egressgateway-6d8f9b7c4d-q9wz2' };
    const e = cloneEgressEvent(mesh().normalize(rec, gw, origin));
    expect(e).toMatchObject({ reporter: 'egress-gateway', path: 'gateway-to-external' });
    expect(e.destination).toMatchObject({ host: 'en.wikipedia.org', ip: '172.25.33.172', external: true });
    // A mesh name through the forwarder stays in the mesh.
    rec.requestedServerName = 'reviews.default.svc.cluster.local';
    expect(mesh().normalize(rec, gw, origin).path).toBe('internal');
  });

  it('recognises a gateway pod by namespace (istio-egress) and by a configured label value', () => {
    expect(
      event(mesh(), 'SNI2', { namespace: 'istio-egress', pod: 'egressgateway-7d4f9c-abcde' }).reporter,
    ).toBe('egress-gateway');
    const custom = new Normalizer(
      MeshConfigSchema.parse({
        egressGatewayLabels: { istio: ['corp-egress'] },
        egressGatewayNamespaces: [],
      }),
    );
    expect(
      event(custom, 'L13gw', { namespace: 'gw', pod: 'out-1', istioLabel: 'corp-egress' }).reporter,
    ).toBe('egress-gateway');
  });

  it('L1: the HTTP egress gateway on port 80, named by `kubectl logs --prefix` only, is a gateway, not a bypass', () => {
    const e = event(mesh(), 'L1', { pod: 'cnn-egress-gateway-istio-7f9c8d6b5-x2k9q' });
    expect(e).toMatchObject({ reporter: 'egress-gateway', path: 'gateway-to-external' });
  });

  it('learns a gateway from its lines: sidecars sending to its pod IP are sidecar-to-gateway, whatever its service', () => {
    const n = mesh();
    const rec = newAccessRecord();
    new EnvoyTextParser().parse(lines.get('SNI3')?.line ?? '', rec);
    rec.upstreamCluster = 'outbound|443|wildcard|corp-out.platform.svc.cluster.local';
    const before = n.normalize(rec, { ...newShipperMeta(), ...sleep }, origin).path;
    expect(before).toBe('internal');
    event(n, 'SNI2'); // the gateway at 172.17.5.170 shows itself
    expect(n.normalize(rec, { ...newShipperMeta(), ...sleep }, origin).path).toBe('sidecar-to-gateway');
    expect(n.scope.isEgressGatewayHost('corp-out.platform.svc.cluster.local')).toBe(true);
    expect(n.gateways().map((g) => [g.name, g.kind, g.legs])).toEqual([
      ['pod IP 172.17.5.170', 'proxy', 1],
      ['corp-out.platform.svc.cluster.local', 'service', 1],
    ]);
  });
});
