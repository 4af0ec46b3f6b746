import { describe, expect, it } from 'vitest';
import { MeshConfigSchema } from '../../src/identity/config.js';
import { cloneEgressEvent } from '../../src/identity/event.js';
import { Normalizer } from '../../src/identity/normalizer.js';
import { PrincipalMap } from '../../src/identity/principal-map.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { newAccessRecord, newShipperMeta } from '../../src/parse/types.js';

const T0 = Date.parse('2025-03-04T10:00:00Z');
const MIN = 60_000;
const origin = { source: 'test', position: '1' };
const GW_CLUSTER = 'outbound|443|ibm|istio-egressgateway.istio-system.svc.cluster.local';

/** A sidecar leg to the egress gateway, as Istio logs it (TLS, SNI, no principal). */
function sidecarLeg(
  n: Normalizer,
  time: number,
  ns: string,
  wl: string,
  pod: string,
  ip: string,
): EgressEvent {
  const r = newAccessRecord();
  r.startTime = time;
  r.upstreamCluster = GW_CLUSTER;
  r.upstreamHost = '10.244.0.22:8443';
  r.downstreamLocalAddress = '162.20.61.49:443';
  r.downstreamRemoteAddress = `${ip}:51926`;
  r.requestedServerName = 'api.ibm.com';
  r.bytesReceived = 1000;
  const meta = { ...newShipperMeta(), namespace: ns, workload: wl, pod, podIp: ip };
  return cloneEgressEvent(n.normalize(r, meta, origin));
}

/** The egress gateway's leg: the caller's principal and pod IP. */
function gatewayLeg(
  n: Normalizer,
  time: number,
  callerIp: string,
  principal: string | null,
  xff: string | null = null,
): EgressEvent {
  const r = newAccessRecord();
  r.startTime = time;
  r.upstreamCluster = 'outbound|443||api.ibm.com';
  r.upstreamHost = '162.20.61.49:443';
  r.downstreamLocalAddress = '10.244.0.22:8443';
  r.downstreamRemoteAddress = `${callerIp}:34868`;
  r.requestedServerName = 'api.ibm.com';
  r.peerPrincipal = principal;
  r.xForwardedFor = xff;
  const meta = {
    ...newShipperMeta(),
    namespace: 'istio-system',
    pod: 'istio-egressgateway-6h5mzrtnb-p2jcv',
    istioLabel: 'egressgateway',
  };
  return cloneEgressEvent(n.normalize(r, meta, origin));
}

const A = 'spiffe://cluster.local/ns/app-a/sa/app-a';
const B = 'spiffe://cluster.local/ns/app-b/sa/app-b';
const A2 = 'spiffe://cluster.local/ns/app-a/sa/reporter';

describe('learning workload principals from gateway legs', () => {
  it('fills the principal on a workload sidecar legs once a gateway leg paired them, marked learned', () => {
    const n = new Normalizer(MeshConfigSchema.parse({}));
    const first = sidecarLeg(n, T0, 'app-a', 'app-a', 'app-a-1', '10.244.0.12');
    expect(first.source.principal).toBeNull();
    const gw = gatewayLeg(n, T0 + 2, '10.244.0.12', A);
    expect(gw.source).toMatchObject({ key: 'app-a/app-a', workload: 'app-a', principalSource: 'logged' });
    // Another pod of the same workload, another IP: the pairing is per workload, not per pod.
    const later = sidecarLeg(n, T0 + MIN, 'app-a', 'app-a', 'app-a-2', '10.244.0.13');
    expect(later.source).toMatchObject({
      principal: A,
      principalSource: 'learned',
      attribution: 'metadata',
      key: 'app-a/app-a',
    });
  });

  it('learns from the new owner of an IP reused by another workload after a restart', () => {
    const n = new Normalizer(MeshConfigSchema.parse({}));
    sidecarLeg(n, T0, 'app-a', 'app-a', 'app-a-1', '10.244.0.12');
    gatewayLeg(n, T0 + 2, '10.244.0.12', A);
    // app-a's pod goes away; 20 minutes later app-b's new pod gets the same IP.
    sidecarLeg(n, T0 + 20 * MIN, 'app-b', 'app-b', 'app-b-1', '10.244.0.12');
    const gw = gatewayLeg(n, T0 + 20 * MIN + 2, '10.244.0.12', B);
    expect(gw.source.key).toBe('app-b/app-b');
    expect(sidecarLeg(n, T0 + 21 * MIN, 'app-b', 'app-b', 'app-b-1', '10.244.0.12').source.principal).toBe(B);
    expect(sidecarLeg(n, T0 + 21 * MIN, 'app-a', 'app-a', 'app-a-3', '10.244.0.30').source.principal).toBe(A);
  });

  it('learns nothing from a reused IP whose new pod has not logged yet, and maps the principal by its service account', () => {
    const n = new Normalizer(MeshConfigSchema.parse({}));
    sidecarLeg(n, T0, 'app-b', 'app-b', 'app-b-1', '10.244.0.40');
    gatewayLeg(n, T0 + 2, '10.244.0.40', B);
    sidecarLeg(n, T0, 'app-a', 'app-a', 'app-a-1', '10.244.0.12');
    // app-b's new pod reuses app-a's old IP and calls out before any of its sidecar lines arrived.
    const gw = gatewayLeg(n, T0 + 30 * MIN, '10.244.0.12', B);
    // The pod-IP map still names app-a (another namespace): the principal's one learned workload decides.
    expect(gw.source).toMatchObject({ key: 'app-b/app-b', workload: 'app-b', attribution: 'principal' });
    expect(n.principals.principalOf('app-a/app-a', T0 + 31 * MIN)).toBeNull();
  });

  it('does not pair a principal with a stale owner in the same namespace', () => {
    const n = new Normalizer(MeshConfigSchema.parse({}));
    sidecarLeg(n, T0, 'app-a', 'app-a', 'app-a-1', '10.244.0.12');
    gatewayLeg(n, T0 + 2, '10.244.0.12', A);
    // An hour later a pod of another app-a workload (service account "reporter") reuses the IP.
    gatewayLeg(n, T0 + 60 * MIN, '10.244.0.12', A2);
    expect(n.principals.principalOf('app-a/app-a', T0 + 61 * MIN)).toBe(A);
  });

  it('learns nothing from an X-Forwarded-For hop, which the client writes itself', () => {
    const n = new Normalizer(MeshConfigSchema.parse({}));
    sidecarLeg(n, T0, 'app-a', 'app-a', 'app-a-1', '10.244.0.12');
    gatewayLeg(n, T0 + 2, '10.9.9.9', A2, '10.244.0.12');
    expect(n.principals.principalOf('app-a/app-a', T0 + MIN)).toBeNull();
  });

  it('forgets pairings idle longer than the limit, by event time', () => {
    const m = new PrincipalMap(10, 3600_000);
    m.learn('app-a/app-a', 'app-a', 'app-a', A, T0);
    expect(m.principalOf('app-a/app-a', T0 + 30 * MIN)).toBe(A);
    m.learn('app-b/app-b', 'app-b', 'app-b', B, T0 + 3 * 3600_000);
    expect(m.principalOf('app-a/app-a', T0 + 3 * 3600_000)).toBeNull();
    expect(m.workloadOf(A, T0 + 3 * 3600_000)).toBeNull();
  });

  it('switches to a new service account once it was seen twice, ignoring a single stray pairing', () => {
    const m = new PrincipalMap();
    for (let i = 0; i < 5; i++) m.learn('app-a/app-a', 'app-a', 'app-a', A, T0 + i * MIN);
    m.learn('app-a/app-a', 'app-a', 'app-a', A2, T0 + 6 * MIN);
    expect(m.principalOf('app-a/app-a', T0 + 7 * MIN)).toBe(A);
    m.learn('app-a/app-a', 'app-a', 'app-a', A2, T0 + 8 * MIN);
    expect(m.principalOf('app-a/app-a', T0 + 9 * MIN)).toBe(A2);
    // Looking back at event time before the new account existed still gives the old one.
    expect(m.principalOf('app-a/app-a', T0 + 2 * MIN)).toBe(A);
  });

  it('maps a principal to a workload only when it was learned for exactly one', () => {
    const m = new PrincipalMap();
    m.learn('app-a/app-a', 'app-a', 'app-a', A, T0);
    expect(m.workloadOf(A, T0)?.workloadKey).toBe('app-a/app-a');
    m.learn('app-a/app-a-canary', 'app-a', 'app-a-canary', A, T0);
    m.learn('app-a/app-a-canary', 'app-a', 'app-a-canary', A, T0 + 1);
    m.learn('app-a/app-a', 'app-a', 'app-a', A, T0 + 2);
    expect(m.workloadOf(A, T0 + 3)).toBeNull();
  });

  it('stays bounded, evicting the least recently learned workload', () => {
    const m = new PrincipalMap(3);
    for (let i = 0; i < 5; i++)
      m.learn(`ns/w${i}`, 'ns', `w${i}`, `spiffe://cluster.local/ns/ns/sa/w${i}`, T0 + i);
    expect(m.size).toBe(3);
    expect(m.principalOf('ns/w0', T0 + 10)).toBeNull();
    expect(m.workloadOf('spiffe://cluster.local/ns/ns/sa/w0', T0 + 10)).toBeNull();
    expect(m.principalOf('ns/w4', T0 + 10)).toBe('spiffe://cluster.local/ns/ns/sa/w4');
  });
});
