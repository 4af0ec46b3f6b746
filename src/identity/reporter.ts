/**
 * Which proxy wrote a line: sidecar, egress gateway or ingress gateway. From the shipper's metadata
 * (label istio=egressgateway/ingressgateway, a gateway-api `gateway-name` label, a configured
 * namespace, pod name `istio-egressgateway*`/`istio-ingressgateway*`); a pod without those is a
 * sidecar. Without metadata, from the line: an `outbound|` line whose downstream local IP equals its
 * upstream local IP (the proxy accepted on its own pod IP, not an intercepted original destination),
 * or whose downstream local port is a gateway listener port (8080/8443) with a cluster for an
 * external host, is a gateway (egress if the destination is external, else ingress); so is a proxy
 * already seen acting as an egress gateway (gateway-evidence.ts).
 */
import type { AccessRecord, ShipperMeta } from '../parse/types.js';
import type { ClusterName } from './cluster-names.js';
import type { MeshConfig } from './config.js';
import {
  addrHost,
  addrPort,
  globRegExp,
  isIpLiteral,
  isLoopback,
  type MeshScope,
  portColon,
} from './mesh.js';
import type { Reporter } from './types.js';

const GATEWAY_PORTS = new Set([8080, 8443]);

const DEFAULT_GATEWAY_LABELS = {
  istio: ['*egressgateway*'],
  'gateway.networking.k8s.io/gateway-name': ['*egress*'],
};

export type ReporterConfig = Partial<Pick<MeshConfig, 'egressGatewayNamespaces' | 'egressGatewayLabels'>>;

/** Matches label values against glob patterns, remembering the last answer (values repeat). */
class LabelMatcher {
  private readonly patterns: RegExp[];
  private lastValue: string | null = null;
  private lastResult = false;

  constructor(patterns: readonly string[]) {
    this.patterns = patterns.map(globRegExp);
  }

  test(value: string): boolean {
    if (value === this.lastValue) return this.lastResult;
    let hit = false;
    for (const p of this.patterns) if (p.test(value)) hit = true;
    this.lastValue = value;
    this.lastResult = hit;
    return hit;
  }
}

export class ReporterRules {
  private readonly gatewayNamespaces: ReadonlySet<string>;
  private readonly gatewayLabels: { istio: (v: string) => boolean; gatewayName: (v: string) => boolean };

  /** `gatewayIps`: pod IPs of proxies seen acting as egress gateways (gateway-evidence.ts), read only. */
  constructor(
    config: ReporterConfig,
    private readonly scope: MeshScope,
    private readonly gatewayIps: ReadonlySet<string>,
  ) {
    this.gatewayNamespaces = new Set(config.egressGatewayNamespaces ?? []);
    const labels = config.egressGatewayLabels ?? DEFAULT_GATEWAY_LABELS;
    const istio = new LabelMatcher(labels.istio);
    const gatewayName = new LabelMatcher(labels['gateway.networking.k8s.io/gateway-name']);
    this.gatewayLabels = { istio: (v) => istio.test(v), gatewayName: (v) => gatewayName.test(v) };
  }

  /**
   * Sidecar, egress gateway or ingress gateway: from the shipper's metadata (labels, namespace, pod
   * name, as configured), else from the line's own evidence, which also applies to a pod whose
   * metadata says nothing (a Gateway API gateway's pod named by `kubectl logs --prefix`).
   */
  of(
    r: AccessRecord,
    meta: ShipperMeta,
    ci: ClusterName | null,
    local: string | null,
    localInternal: boolean,
    upstream: string | null,
    upstreamInternal: boolean,
    istioSniHost: string | null,
  ): Reporter {
    const clusterExternal = ci !== null && ci.hostInfo !== null && !ci.hostInfo.mesh;
    const label = meta.istioLabel;
    if (label !== null) {
      if (this.gatewayLabels.istio(label)) return 'egress-gateway';
      if (label.includes('ingress')) return 'ingress-gateway';
    }
    if (meta.gatewayName !== null) {
      return this.gatewayLabels.gatewayName(meta.gatewayName) || clusterExternal
        ? 'egress-gateway'
        : 'ingress-gateway';
    }
    if (meta.namespace !== null && this.gatewayNamespaces.has(meta.namespace)) return 'egress-gateway';
    const pod = meta.pod;
    if (pod !== null && pod.charCodeAt(0) === 105) {
      if (pod.startsWith('istio-egressgateway')) return 'egress-gateway';
      if (pod.startsWith('istio-ingressgateway')) return 'ingress-gateway';
    }
    if (ci?.inbound === true) return 'sidecar';
    // A pod the shipper's metadata names (namespace and pod: its labels would have named a gateway),
    // or whose line goes to an in-mesh cluster, is a sidecar unless the line shows an internal listener
    // or a gateway's mTLS SNI. What is left: pods named only by a pasted prefix, and bare lines.
    if (
      pod !== null &&
      (meta.namespace !== null || !clusterExternal) &&
      !localInternal &&
      !upstreamInternal &&
      istioSniHost === null
    )
      return 'sidecar';
    // The line's own evidence. An internal listener's leg (`envoy://` addresses): an SNI-forwarding
    // gateway's inner leg, which sends out.
    if (localInternal || r.downstreamRemoteAddress?.startsWith('envoy://') === true) {
      if (upstream !== null) {
        const h = addrHost(upstream);
        if (isIpLiteral(h) && !isLoopback(h) && !this.scope.isMeshIp(h)) return 'egress-gateway';
      }
      return clusterExternal ? 'egress-gateway' : 'sidecar';
    }
    if (local !== null) {
      const localIp = addrHost(local);
      // Addressed by its caller as an egress gateway (Istio's mTLS SNI names the gateway service),
      // or a pod already seen acting as one.
      if (istioSniHost !== null && this.scope.hostInfo(istioSniHost).egressGateway) return 'egress-gateway';
      if (this.gatewayIps.size > 0 && this.gatewayIps.has(localIp)) return 'egress-gateway';
      if (upstreamInternal) return 'sidecar';
      if (ci !== null && ci.host !== null) {
        // Accepted on its own pod IP (not an intercepted original destination), or on a gateway
        // listener port, and sends to a cluster for an external host.
        const ownIp = r.upstreamLocalAddress !== null && sameHost(r.upstreamLocalAddress, local);
        if (ownIp || (GATEWAY_PORTS.has(addrPort(local)) && clusterExternal)) {
          return clusterExternal ? 'egress-gateway' : 'ingress-gateway';
        }
      }
    }
    return 'sidecar';
  }
}

/** Do two `host:port` addresses have the same host? Compared in place (no slices). */
function sameHost(a: string, b: string): boolean {
  let ca = portColon(a);
  let cb = portColon(b);
  if (ca < 0) ca = a.length;
  if (cb < 0) cb = b.length;
  if (ca !== cb) return false;
  for (let i = 0; i < ca; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return false;
  return true;
}
