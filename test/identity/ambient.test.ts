import { describe, expect, it } from 'vitest';
import { workloadOfPod } from '../../src/identity/ambient.js';
import { MeshConfigSchema } from '../../src/identity/config.js';
import { cloneEgressEvent } from '../../src/identity/event.js';
import { Normalizer } from '../../src/identity/normalizer.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { LineDecoder } from '../../src/parse/decoder.js';
import type { DecodeSink } from '../../src/parse/decoder-types.js';
import type { AccessRecord, ShipperMeta } from '../../src/parse/types.js';
import { fixture } from '../fixtures/load.js';

const line = (id: string) => fixture('ztunnel-lines.txt', id);

/** Decodes and normalises lines in order through one Normalizer (its maps learn as it goes). */
function events(...raws: string[]): EgressEvent[] {
  const n = new Normalizer(MeshConfigSchema.parse({}));
  const decoder = new LineDecoder();
  const out: EgressEvent[] = [];
  const sink: DecodeSink = {
    access(record: AccessRecord, meta: ShipperMeta) {
      out.push(
        cloneEgressEvent(
          n.normalize(record, meta, { source: 'ztunnel.log', position: String(out.length + 1) }),
        ),
      );
    },
    skipped(reason) {
      throw new Error(`skipped: ${reason}`);
    },
    malformed(reason) {
      throw new Error(`malformed: ${reason}`);
    },
  };
  for (const raw of raws) decoder.decode(raw, sink);
  return out;
}

/**
 * The ztunnel leg that goes with WAYPOINT_EGRESS_HTTPBIN (same caller IP, the ServiceEntry VIP the
 * waypoint accepted on, the waypoint pod's IP on :15008), written in the shape of EG_WAYPOINT_OUT.
 */
const ZTUNNEL_TO_EGRESS_WAYPOINT =
  '2024-10-24T15:36:26.170000Z\tinfo\taccess\tconnection complete\tsrc.addr=10.42.0.13:51034 src.workload="curl-6c9b8b8d4-2kq7z" src.namespace="default" src.identity="spiffe://cluster.local/ns/default/sa/curl" dst.addr=10.42.0.16:15008 dst.hbone_addr=240.240.0.4:80 dst.service="httpbin.org" dst.workload="waypoint-7c8f6b9d5-x2l4n" dst.namespace="egress" dst.identity="spiffe://cluster.local/ns/egress/sa/waypoint" direction="outbound" bytes_sent=78 bytes_recv=239 duration="162ms"';

describe('ambient attribution: ztunnel records', () => {
  it('a direct connection to an internet address is ambient bypass (passthrough), attributed from src.workload + src.namespace', () => {
    const [e] = events(line('ISSUE_58786_DIRECT'));
    expect(e).toMatchObject({
      ambient: 'ztunnel',
      reporter: 'sidecar',
      path: 'passthrough',
      protocol: 'tcp',
      cluster: null,
      bytesUp: 800,
      bytesDown: 8468,
      durationMs: 73,
      origin: 'ztunnel.log:1',
    });
    expect(e?.destination).toEqual({
      host: null,
      registeredDomain: null,
      ip: '142.250.191.142',
      port: 443,
      external: true,
      nameUnverified: false,
    });
    expect(e?.source).toEqual({
      principal: null,
      principalSource: null,
      namespace: 'istio-addons-ingress',
      workload: 'istio-debug',
      pod: 'istio-debug',
      ip: '10.1.0.8',
      attribution: 'metadata',
      key: 'istio-addons-ingress/istio-debug',
    });
  });

  it('a ServiceEntry host reached without a waypoint is direct-external', () => {
    const raw = line('ISSUE_58786_DIRECT').replace(
      '"direction"',
      '"dst.service":"api.github.com","direction"',
    );
    const [e] = events(raw);
    expect(e?.path).toBe('direct-external');
    expect(e?.destination).toMatchObject({
      host: 'api.github.com',
      registeredDomain: 'github.com',
      external: true,
      nameUnverified: false,
    });
  });

  it('in-mesh records are internal (outbound) and inbound; the workload comes from the pod name', () => {
    const [out, inb] = events(line('EKS_MTLS_OUT'), line('ISTIO_DEBUG_IN'));
    expect(out?.path).toBe('internal');
    expect(out?.destination).toMatchObject({
      host: 'details.bookinfo.svc.cluster.local',
      ip: '10.129.0.43',
      port: 9080,
      external: false,
      nameUnverified: false,
    });
    expect(out?.source).toMatchObject({
      principal: 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage',
      principalSource: 'logged',
      namespace: 'bookinfo',
      workload: 'productpage-v1',
      pod: 'productpage-v1-57ffb6658c-vmb6z',
      attribution: 'principal',
      key: 'bookinfo/productpage-v1',
    });
    expect(inb?.path).toBe('inbound');
  });

  it('a connection tunnelled to the egress waypoint is the monitored leg (sidecar-to-gateway) to the ServiceEntry host', () => {
    const [e] = events(ZTUNNEL_TO_EGRESS_WAYPOINT);
    expect(e?.path).toBe('sidecar-to-gateway');
    expect(e?.destination).toEqual({
      host: 'httpbin.org',
      registeredDomain: 'httpbin.org',
      ip: '240.240.0.4',
      port: 80,
      external: true,
      nameUnverified: false,
    });
    expect(e?.time).toBe(Date.parse('2024-10-24T15:36:26.170Z') - 162);
  });

  it('without src.workload, the pod-IP map names the caller; with nothing known the key is unknown/<ip>', () => {
    const noName = line('ISSUE_58786_DIRECT').replace(
      '"src.workload":"istio-debug","src.namespace":"istio-addons-ingress",',
      '',
    );
    const [first, second] = events(line('ISSUE_58786_DIRECT'), noName);
    expect(first?.source.key).toBe('istio-addons-ingress/istio-debug');
    expect(second?.source).toMatchObject({ attribution: 'pod-ip', key: 'istio-addons-ingress/istio-debug' });
    const [alone] = events(noName);
    expect(alone?.source).toMatchObject({ attribution: 'unknown', key: 'unknown/10.1.0.8' });
  });
});

describe('ambient attribution: waypoint lines', () => {
  it("the egress waypoint's leg out, attributed through the caller's ztunnel record (IP, then the principal learned)", () => {
    const [leg, out] = events(ZTUNNEL_TO_EGRESS_WAYPOINT, line('WAYPOINT_EGRESS_HTTPBIN'));
    expect(leg?.path).toBe('sidecar-to-gateway');
    expect(out).toMatchObject({
      ambient: 'waypoint',
      reporter: 'egress-gateway',
      path: 'gateway-to-external',
      protocol: 'http',
      method: 'HEAD',
      httpPath: '/get',
      responseCode: 200,
      cluster: 'inbound-vip|80|http|httpbin.org',
      requestId: '5257e961-a040-4d33-9ff8-844ea8a08553',
    });
    expect(out?.destination).toEqual({
      host: 'httpbin.org',
      registeredDomain: 'httpbin.org',
      ip: '44.196.139.143',
      port: 80,
      external: true,
      nameUnverified: false,
    });
    expect(out?.source).toEqual({
      principal: 'spiffe://cluster.local/ns/default/sa/curl',
      principalSource: 'learned',
      namespace: 'default',
      workload: 'curl',
      pod: 'curl-6c9b8b8d4-2kq7z',
      ip: '10.42.0.13',
      attribution: 'pod-ip',
      key: 'default/curl',
    });
  });

  it('a waypoint line no ztunnel record explains is from an unknown caller', () => {
    const [out] = events(line('WAYPOINT_EGRESS_HTTPBIN'));
    expect(out?.path).toBe('gateway-to-external');
    expect(out?.source).toMatchObject({ attribution: 'unknown', key: 'unknown/10.42.0.13', principal: null });
  });

  it('TLS origination at the waypoint: destination port is the VIP port the caller used', () => {
    const [out] = events(line('WAYPOINT_EGRESS_TLS_ORIG'));
    expect(out?.destination).toMatchObject({ host: 'httpbin.org', ip: '44.207.188.95', port: 80 });
    expect(out?.bytesDown).toBe(255);
  });

  it('an in-mesh waypoint line (Istio 1.24, envoy://connect_originate upstream) is internal', () => {
    const [out] = events(line('KIALI_8146_WAYPOINT'));
    expect(out?.path).toBe('internal');
    expect(out?.destination).toMatchObject({ host: 'ratings', ip: null, port: 9080, external: false });
  });

  it('sidecar lines after ambient ones carry no ambient marker (reused event)', () => {
    const sidecar =
      '[2024-01-11T21:09:42.835Z] "- - -" 0 - - - "-" 839 2504306 231 - "-" "-" "-" "-" "151.101.195.5:443" outbound|443||edition.cnn.com 172.30.239.8:34470 172.30.239.8:443 172.30.239.15:43956 edition.cnn.com -';
    const [, e] = events(line('ISSUE_58786_DIRECT'), sidecar);
    expect(e?.ambient).toBeNull();
    expect(e?.cluster).toBe('outbound|443||edition.cnn.com');
  });

  it('ambient lines after a sidecar line carry none of its SNI, addresses or unverified name (reused event)', () => {
    // PassthroughCluster: the SNI is only the client's word (nameUnverified); the addresses join legs.
    const sidecar =
      '[2024-01-11T21:09:42.835Z] "- - -" 0 - - - "-" 839 2504306 231 - "-" "-" "-" "-" "151.101.195.5:443" PassthroughCluster 172.30.239.8:34470 151.101.195.5:443 172.30.239.15:43956 edition.cnn.com -';
    const [before, ztunnel, , waypoint] = events(
      sidecar,
      ZTUNNEL_TO_EGRESS_WAYPOINT,
      sidecar,
      line('WAYPOINT_EGRESS_HTTPBIN'),
    );
    expect([before?.sni, before?.upstreamLocalAddress, before?.destination.nameUnverified]).toEqual([
      'edition.cnn.com',
      '172.30.239.8:34470',
      true,
    ]);
    for (const e of [ztunnel, waypoint]) {
      expect(e?.ambient).not.toBeNull();
      expect([e?.sni, e?.upstreamLocalAddress, e?.downstreamRemoteAddress]).toEqual([null, null, null]);
      expect(e?.destination.nameUnverified).toBe(false);
    }
  });
});

describe('workloadOfPod (ztunnel logs pod names)', () => {
  it.each([
    ['sleep-7656cf8794-r7zb9', 'sleep'],
    ['productpage-v1-57ffb6658c-vmb6z', 'productpage-v1'],
    [
      'envoy-envoy-gateway-system-eg-waypoint-3d55183b-ccc6f8575-gs2hp',
      'envoy-envoy-gateway-system-eg-waypoint-3d55183b',
    ],
    [
      'prometheus-monitoring-monitoring-kube-prometheus-0',
      'prometheus-monitoring-monitoring-kube-prometheus',
    ],
    ['ztunnel-4xk9q', 'ztunnel'],
    ['hello-27845280-x7k2q', 'hello'],
    ['istio-debug', 'istio-debug'],
    ['test-client', 'test-client'],
  ])('%s -> %s', (pod, workload) => {
    expect(workloadOfPod(pod)).toBe(workload);
  });
});
