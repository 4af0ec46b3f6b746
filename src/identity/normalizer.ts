/**
 * AccessRecord + ShipperMeta -> EgressEvent: who (source identity), which proxy (reporter), which
 * way (path) and where (destination).
 *
 * Reuse: `normalize` fills and returns ONE event object owned by the Normalizer (and its nested
 * source/destination). It is valid until the next call; consumers that keep events must copy them
 * (`cloneEgressEvent`, event.ts). Measured: reusing saves ~5% over allocating three objects per line.
 *
 * Reporter: from metadata (label istio=egressgateway/ingressgateway, a gateway-api
 * `gateway-name` label, pod name `istio-egressgateway*`/`istio-ingressgateway*`); a pod without those
 * is a sidecar. Without metadata, from the line: an `outbound|` line whose downstream local IP equals
 * its upstream local IP (the proxy accepted on its own pod IP, not an intercepted original
 * destination), or whose downstream local port is a gateway listener port (8080/8443) with a cluster
 * for an external host, is a gateway (egress if the destination is external, else ingress).
 *
 * Source: sidecar lines use the metadata (and teach the pod-IP map); their principal, which the line
 * does not carry, is the one their workload was learned to present at the gateway
 * (`principalSource: 'learned'`, see principal-map.ts). Gateway lines use the SPIFFE principal
 * (%DOWNSTREAM_PEER_URI_SAN%) when logged, mapped to `namespace/workload` through the pod-IP map when
 * the owner's namespace agrees (and then teach the principal map), else through the principal map
 * when the principal was learned for exactly one workload; otherwise the key is the principal itself.
 * Without a principal, the caller's IP (downstream remote address, else the first X-Forwarded-For
 * hop) is looked up in the pod-IP map; otherwise the key is `unknown/<ip>`.
 */
import type { AccessRecord, LineOrigin, ShipperMeta } from '../parse/types.js';
import { AmbientAttribution, isWaypointCluster } from './ambient.js';
import type { MeshConfig } from './config.js';
import { newEgressEvent } from './event.js';
import { canonicalHost } from './host-name.js';
import {
  addressStart,
  addrHost,
  addrPort,
  detachString,
  globRegExp,
  type HostInfo,
  hostBefore,
  IP_EXTERNAL,
  IP_LOOPBACK,
  IP_MESH,
  IP_NONE,
  type IpKind,
  isIpLiteral,
  isLoopback,
  MeshScope,
  portAfter,
  portColon,
} from './mesh.js';
import { PrincipalMap } from './principal-map.js';
import { firstSpiffeSan, parseSpiffe } from './spiffe.js';
import type { EgressEvent, EgressPath, Reporter } from './types.js';
import { WorkloadMap } from './workload-map.js';

const GATEWAY_PORTS = new Set([8080, 8443]);
const RECENT_CLUSTERS_MASK = 255;
/** A pod's first sidecar line may be logged a little after its first gateway leg. */
const OWNER_GRACE_MS = 5000;

/** What `outbound|PORT|SUBSET|HOST` (or another cluster name) says, computed once per name. */
interface ClusterName {
  readonly name: string;
  readonly host: string | null;
  readonly port: number;
  readonly hostInfo: HostInfo | null;
  readonly inbound: boolean;
  /** InboundPassthroughCluster(Ipv4|Ipv6): inbound only when the address is the pod's own. */
  readonly inboundPassthrough: boolean;
  /** Lines of this cluster still to check against learned gateway pod IPs, for `probeGeneration`. */
  probesLeft: number;
  probeGeneration: number;
}

/** Lines of each cluster checked against the gateway pod IPs after each newly learned one. */
const GATEWAY_PROBES = 32;

/** An egress gateway found in the lines, for start-up and summary messages. */
export interface GatewaySeen {
  /** `namespace/pod`, `pod IP x`, or the service host sidecars sent to. */
  readonly name: string;
  /** `pod`/`proxy`: a proxy that acted as a gateway (by metadata or by its lines); `service`: a gateway service. */
  readonly kind: 'pod' | 'proxy' | 'service';
  legs: number;
  firstSeen: number;
  lastSeen: number;
}

/** `name (pod, 12 legs), host (service, 40 sidecar legs)`, or `none` (summary messages). */
export function formatGateways(list: readonly GatewaySeen[]): string {
  if (list.length === 0) return 'none';
  const legs = (n: number) => `${n} ${n === 1 ? 'leg' : 'legs'}`;
  return list
    .map((g) => {
      if (g.kind === 'service') return `${g.name} (service, ${legs(g.legs)} from sidecars)`;
      return `${g.name} (${g.kind === 'pod' ? 'pod' : 'recognised by its lines'}, ${legs(g.legs)})`;
    })
    .join(', ');
}

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

/** `outbound_.8000_._.httpbin.foo.svc.cluster.local` -> `httpbin.foo.svc.cluster.local`; null when not that form. */
export function istioSniTarget(sni: string): string | null {
  // outbound_.PORT_.SUBSET_.HOST
  const p = sni.indexOf('_.', 10);
  if (p < 0) return null;
  for (let i = 10; i < p; i++) {
    const c = sni.charCodeAt(i);
    if (c < 48 || c > 57) return null;
  }
  const q = sni.indexOf('_.', p + 2);
  if (q < 0 || q + 2 >= sni.length) return null;
  return sni.slice(q + 2);
}

export type NormalizerConfig = Pick<MeshConfig, 'meshCidrs' | 'meshDomains' | 'egressGatewayHosts'> &
  Partial<
    Pick<MeshConfig, 'podIpMapSize' | 'podIpMaxIdleMs' | 'egressGatewayNamespaces' | 'egressGatewayLabels'>
  >;

const DEFAULT_GATEWAY_LABELS = {
  istio: ['*egressgateway*'],
  'gateway.networking.k8s.io/gateway-name': ['*egress*'],
};

export class Normalizer {
  readonly scope: MeshScope;
  readonly workloads: WorkloadMap;
  readonly principals: PrincipalMap;
  private readonly event = newEgressEvent();
  private lastNs: string | null = null;
  private lastWl: string | null = null;
  private lastKey = '';
  private readonly keys = new Map<string, Map<string, string>>();
  /** `kafka:topic` + `/partition/offset`, else `file` + `:line`: decided once per source name. */
  private lastSource = '';
  private lastSourceSep = ':';
  private readonly clusters = new Map<string, ClusterName>();
  private readonly recentClusters: (ClusterName | undefined)[] = new Array(RECENT_CLUSTERS_MASK + 1).fill(
    undefined,
  );

  private readonly gatewayNamespaces: ReadonlySet<string>;
  private readonly gatewayLabels: { istio: (v: string) => boolean; gatewayName: (v: string) => boolean };
  /** Pod IPs of proxies seen acting as egress gateways (evidence for other lines). */
  private readonly gatewayIps = new Set<string>();
  /** Bumped whenever a gateway pod IP is learned: clusters are probed again. */
  private gatewayGeneration = 0;
  private readonly gatewaysSeen = new Map<string, GatewaySeen>();
  private lastGateway: GatewaySeen | null = null;
  private lastGatewayPod: string | null = null;
  private lastGatewayIp: string | null = null;
  /** ztunnel records and waypoint lines (ambient mode). */
  private readonly ambient: AmbientAttribution;

  constructor(config: NormalizerConfig) {
    this.scope = new MeshScope(config);
    this.gatewayNamespaces = new Set(config.egressGatewayNamespaces ?? []);
    const labels = config.egressGatewayLabels ?? DEFAULT_GATEWAY_LABELS;
    const istio = new LabelMatcher(labels.istio);
    const gatewayName = new LabelMatcher(labels['gateway.networking.k8s.io/gateway-name']);
    this.gatewayLabels = { istio: (v) => istio.test(v), gatewayName: (v) => gatewayName.test(v) };
    this.workloads = new WorkloadMap(config.podIpMapSize, config.podIpMaxIdleMs);
    this.principals = new PrincipalMap(config.podIpMapSize);
    this.ambient = new AmbientAttribution(this.scope, this.workloads, this.principals, (ns, wl) =>
      this.keyOf(ns, wl),
    );
  }

  normalize(r: AccessRecord, meta: ShipperMeta, origin: LineOrigin): EgressEvent {
    const e = this.event;
    const scope = this.scope;
    const time = Number.isNaN(r.startTime) ? meta.shippedAt : r.startTime;
    e.time = time;
    e.bytesUp = r.bytesReceived;
    e.bytesDown = r.bytesSent;
    e.durationMs = r.durationMs;
    e.responseCode = r.responseCode;
    e.responseFlags = r.responseFlags;
    e.requestId = r.requestId;
    e.method = r.method;
    e.httpPath = r.path;
    e.claim = null;
    e.extra = r.trailing;
    const source = origin.source;
    if (source !== this.lastSource) {
      this.lastSource = source;
      this.lastSourceSep = source.startsWith('kafka:') ? '/' : ':';
    }
    e.origin = `${source}${this.lastSourceSep}${origin.position}`;

    const cluster = r.upstreamCluster;
    if (r.ztunnel !== null) {
      this.ambient.ztunnel(r.ztunnel, e, time);
      return e;
    }
    if (isWaypointCluster(cluster)) {
      this.ambient.waypoint(r, cluster, e, time);
      return e;
    }
    e.ambient = null;
    e.cluster = cluster;
    // The same few hundred cluster names repeat: split each once (host, port, kind), not per line.
    const ci = cluster === null ? null : this.clusterOf(cluster);
    const clusterHost = ci === null ? null : ci.host;
    const clusterPort = ci === null ? 0 : ci.port;
    const clusterInfo = ci === null ? null : ci.hostInfo;
    const clusterExternal = clusterInfo !== null && !clusterInfo.mesh;

    // Destination names: what the client claims. Istio's own mTLS SNI (`outbound_.8000_._.x.svc...`)
    // names the mesh service the caller addressed; it is kept aside, and judged against the address.
    let sni = r.requestedServerName;
    let istioSniHost: string | null = null;
    if (sni !== null && sni.charCodeAt(0) === 111 && sni.startsWith('outbound_.')) {
      istioSniHost = istioSniTarget(sni);
      if (istioSniHost !== null) sni = null;
    }
    // The SNI as logged (not Istio's own mTLS form), for `connection.sni`; and the connection's own
    // addresses, which join a sidecar's leg to the gateway's (detect/join.ts).
    e.sni = sni !== null && sni.startsWith('outbound_.') ? null : sni;
    e.upstreamLocalAddress = r.upstreamLocalAddress;
    e.downstreamRemoteAddress = r.downstreamRemoteAddress;
    let authHost: string | null = null;
    let authIp: string | null = null;
    if (r.authority !== null) {
      authHost = addrHost(r.authority);
      if (isIpLiteral(authHost)) {
        authIp = authHost;
        authHost = null;
      }
    }
    // One canonical spelling (lower case, no trailing dot, punycode) before anything matches a name.
    if (sni !== null) sni = canonicalHost(sni);
    if (authHost !== null) authHost = canonicalHost(authHost);
    e.protocol = r.method !== null ? 'http' : r.requestedServerName !== null ? 'tls' : 'tcp';

    // Addresses, without Envoy's `tcp://` scheme; `envoy://` (an internal listener) is no address.
    let upstream = r.upstreamHost;
    let upstreamInternal = false;
    if (upstream !== null) {
      const at = addressStart(upstream);
      if (at < 0) {
        upstream = null;
        upstreamInternal = true;
      } else if (at > 0) upstream = upstream.slice(at);
    }
    let local = r.downstreamLocalAddress;
    let localInternal = false;
    if (local !== null) {
      const at = addressStart(local);
      if (at < 0) {
        local = null;
        localInternal = true;
      } else if (at > 0) local = local.slice(at);
    }

    const reporter = this.reporterOf(
      r,
      meta,
      ci,
      local,
      localInternal,
      upstream,
      upstreamInternal,
      istioSniHost,
    );
    e.reporter = reporter;

    // Destination address: a sidecar's original destination is its downstream local address (the
    // upstream is the gateway, or absent when blocked); otherwise the upstream it connected to.
    const d = e.destination;
    const inboundCluster = ci?.inbound === true;
    let toGateway = clusterInfo?.egressGateway === true;
    const useLocal = reporter === 'sidecar' && (toGateway || inboundCluster || upstream === null);
    const addr = useLocal ? (local ?? upstream) : upstream;
    let ipKind: IpKind = IP_NONE;
    if (addr === null) {
      d.ip = authIp;
      d.port = clusterPort;
    } else {
      const colon = portColon(addr);
      d.ip = hostBefore(addr, colon);
      d.port = portAfter(addr, colon) || clusterPort;
    }
    // A cluster for an external host leaves the mesh whatever its endpoint's range, unless to loopback:
    // no need to parse the address (the common egress line).
    if (d.ip !== null) {
      const ip = d.ip;
      if (!clusterExternal || (ip.charCodeAt(0) === 49 && ip.startsWith('127.')) || ip === '::1')
        ipKind = scope.ipKind(ip);
      else ipKind = IP_EXTERNAL;
    }
    // A sidecar whose endpoint is a pod the lines showed to be an egress gateway sends to a gateway,
    // whatever its service is called (the service is then learned as a gateway host).
    // Each cluster is probed on its first lines after a gateway was learned, not on every line.
    if (
      reporter === 'sidecar' &&
      !toGateway &&
      upstream !== null &&
      ci !== null &&
      clusterInfo !== null &&
      clusterInfo.mesh &&
      this.probeGateway(ci)
    ) {
      if (this.gatewayIps.has(addrHost(upstream))) {
        toGateway = true;
        if (clusterHost !== null) this.learnGatewayHost(clusterHost);
        if (local !== null) {
          const colon = portColon(local);
          d.ip = hostBefore(local, colon);
          d.port = portAfter(local, colon) || clusterPort;
          ipKind = scope.ipKind(d.ip);
        }
      }
    }

    // Inside or outside the mesh: the address the proxy connected to decides, then the cluster it
    // used; a name decides only when the line has neither (#15: the client chooses its SNI and authority).
    const passthrough = cluster === 'PassthroughCluster';
    let external: boolean;
    if (ipKind === IP_EXTERNAL) external = true;
    else if (ipKind === IP_LOOPBACK) external = false;
    else if (ipKind === IP_MESH) external = clusterExternal;
    else external = clusterExternal || passthrough;

    // Path.
    let path: EgressPath;
    const viaInbound = inboundCluster && !(ci?.inboundPassthrough === true && ipKind === IP_EXTERNAL);
    if (viaInbound) path = 'inbound';
    else if (
      cluster === 'BlackHoleCluster' ||
      r.routeName === 'block_all' ||
      (cluster === null && r.responseCode === 502 && r.responseCodeDetails === 'direct_response')
    )
      path = 'blackhole';
    else if (reporter === 'sidecar') {
      if (passthrough || inboundCluster) path = 'passthrough';
      else if (toGateway) path = 'sidecar-to-gateway';
      else if (clusterHost !== null || ipKind !== IP_NONE) path = external ? 'direct-external' : 'internal';
      else path = 'internal'; // refined below once the name is known
    } else if (upstreamInternal)
      path = 'internal'; // handed to the proxy's own internal listener
    else
      path =
        external && !toGateway
          ? reporter === 'egress-gateway'
            ? 'gateway-to-external'
            : 'direct-external'
          : 'internal';

    // Destination name: SNI, else authority, else the cluster's host (not the gateway's).
    let host = sni ?? authHost;
    let hostInfo: HostInfo | null = null;
    if (host !== null) {
      hostInfo = clusterInfo !== null && host === clusterHost ? clusterInfo : scope.hostInfo(host);
      if (ipKind === IP_NONE && !external && clusterInfo === null) {
        // No address, no cluster: the name is all there is.
        external = !hostInfo.mesh;
      }
    } else if (clusterHost !== null && !toGateway) {
      host = clusterHost;
      hostInfo = clusterInfo;
    }
    // Through the gateway, the destination is where the gateway goes: the name Istio routed on.
    if (toGateway && hostInfo !== null && !hostInfo.mesh) external = true;
    // An egress gateway's SNI forwarder (dynamic forward proxy) dials the name the SNI gives, as the
    // gateway's `outbound|PORT||HOST` cluster would: a name outside the mesh is egress, whatever
    // address it resolved to (a cloud service's private endpoint).
    if (
      path === 'internal' &&
      reporter === 'egress-gateway' &&
      hostInfo !== null &&
      !hostInfo.mesh &&
      ci?.name.startsWith('dynamic_forward_proxy') === true
    ) {
      external = true;
      path = 'gateway-to-external';
    }
    if (path !== 'inbound') {
      // A claimed in-mesh name on a connection that left the mesh, with no cluster of the proxy
      // vouching for that name: the claim is evidence, the address is the destination.
      // On an egress gateway's own line, Istio's SNI naming an egress gateway is the mTLS hop's from
      // the sidecar (the DestinationRule set no `sni:`), not a name for where the gateway went.
      const hopSni =
        reporter === 'egress-gateway' && istioSniHost !== null && scope.hostInfo(istioSniHost).egressGateway;
      const claimed = sni ?? authHost ?? (hopSni ? null : istioSniHost);
      if (
        external &&
        claimed !== null &&
        (claimed === istioSniHost || hostInfo?.mesh === true) &&
        !this.vouches(clusterHost, claimed)
      ) {
        e.claim = {
          kind: 'mesh-name-external-address',
          sni: r.requestedServerName,
          authority: r.authority,
        };
        host = null;
        hostInfo = null;
      } else if (sni !== null && authHost !== null && external && sni !== authHost) {
        const a = scope.registeredDomain(sni.toLowerCase());
        const b = scope.registeredDomain(authHost.toLowerCase());
        if (a !== b) e.claim = { kind: 'sni-authority-mismatch', sni, authority: r.authority };
      }
    }
    if (path === 'internal' && cluster === null && external && reporter === 'sidecar')
      path = 'direct-external';
    d.host = host;
    // Routed by that name (a cluster for it, the gateway route, or a proxy that resolves the SNI
    // itself), or the name is all the client said.
    d.nameUnverified =
      host !== null &&
      host !== clusterHost &&
      !toGateway &&
      !this.vouches(clusterHost, host) &&
      ci?.name.startsWith('dynamic_forward_proxy') !== true;
    d.external = path === 'inbound' ? false : external || path === 'gateway-to-external';
    e.path = path;
    d.registeredDomain = hostInfo !== null && d.external ? hostInfo.registeredDomain : null;

    if (reporter === 'egress-gateway') this.sawGateway(meta, local, time);
    else if (toGateway && clusterHost !== null) this.sawGatewayHost(clusterHost, time);

    this.attribute(r, meta, reporter, path, time);
    return e;
  }

  /** Should this cluster's endpoint be checked against the gateway pod IPs learned so far? */
  private probeGateway(ci: ClusterName): boolean {
    if (this.gatewayIps.size === 0) return false;
    if (ci.probeGeneration !== this.gatewayGeneration) {
      ci.probeGeneration = this.gatewayGeneration;
      ci.probesLeft = GATEWAY_PROBES;
    }
    if (ci.probesLeft === 0) return false;
    ci.probesLeft--;
    return true;
  }

  /** Does the cluster the proxy used route by this name (`outbound|P||name`, or a short name of it)? */
  private vouches(clusterHost: string | null, name: string): boolean {
    if (clusterHost === null) return false;
    if (clusterHost === name) return true;
    // A wildcard ServiceEntry's cluster (`outbound|443||*.wikipedia.org`).
    if (clusterHost.charCodeAt(0) === 42) return name.endsWith(clusterHost.slice(1));
    return (
      clusterHost.length > name.length &&
      clusterHost.charCodeAt(name.length) === 46 &&
      clusterHost.startsWith(name)
    );
  }

  /**
   * Sidecar, egress gateway or ingress gateway: from the shipper's metadata (labels, namespace, pod
   * name, as configured), else from the line's own evidence, which also applies to a pod whose
   * metadata says nothing (a Gateway API gateway's pod named by `kubectl logs --prefix`).
   */
  private reporterOf(
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

  /** A gateway proxy seen: its pod IP becomes evidence for other lines; counted for the summary. */
  private sawGateway(meta: ShipperMeta, local: string | null, time: number): void {
    // Most gateway lines come from the proxy of the line before: one compare, no strings built.
    const last = this.lastGateway;
    const pod = meta.pod;
    if (last !== null && last.kind !== 'service') {
      const lastIp = this.lastGatewayIp;
      if (
        pod !== null
          ? pod === this.lastGatewayPod
          : local !== null &&
            lastIp !== null &&
            local.startsWith(lastIp) &&
            local.charCodeAt(lastIp.length) === 58
      ) {
        last.legs++;
        if (time > last.lastSeen) last.lastSeen = time;
        return;
      }
    }
    const ip = local === null ? meta.podIp : addrHost(local);
    if (
      ip !== null &&
      this.gatewayIps.size < 10000 &&
      !this.gatewayIps.has(ip) &&
      isIpLiteral(ip) &&
      !isLoopback(ip)
    ) {
      this.gatewayIps.add(detachString(ip));
      this.gatewayGeneration++;
    }
    const name =
      pod !== null
        ? meta.namespace === null
          ? pod
          : `${meta.namespace}/${pod}`
        : ip !== null
          ? `pod IP ${ip}`
          : null;
    // An internal listener's inner leg names no proxy; its outer leg counts that gateway.
    if (name === null) return;
    this.countGateway(name, pod !== null ? 'pod' : 'proxy', time);
    this.lastGatewayPod = pod === null ? null : detachString(pod);
    this.lastGatewayIp = pod === null && ip !== null ? detachString(ip) : null;
  }

  private sawGatewayHost(host: string, time: number): void {
    this.countGateway(host, 'service', time);
  }

  private countGateway(name: string, kind: GatewaySeen['kind'], time: number): void {
    const last = this.lastGateway;
    if (last !== null && last.name === name) {
      last.legs++;
      if (time > last.lastSeen) last.lastSeen = time;
      return;
    }
    let g = this.gatewaysSeen.get(name);
    if (g === undefined) {
      if (this.gatewaysSeen.size >= 1000) return;
      g = { name: detachString(name), kind, legs: 0, firstSeen: time, lastSeen: time };
      this.gatewaysSeen.set(g.name, g);
    }
    g.legs++;
    if (time > g.lastSeen) g.lastSeen = time;
    this.lastGateway = g;
  }

  /** Egress gateways found in the lines so far: proxies that acted as one, and gateway services sidecars sent to. */
  gateways(): readonly GatewaySeen[] {
    return [...this.gatewaysSeen.values()];
  }

  private learnGatewayHost(host: string): void {
    this.scope.learnGatewayHost(host);
    // Cached cluster facts hold the old answer.
    this.clusters.clear();
    this.recentClusters.fill(undefined);
  }

  private attribute(
    r: AccessRecord,
    meta: ShipperMeta,
    reporter: Reporter,
    path: EgressPath,
    time: number,
  ): void {
    const s = this.event.source;
    const principal = firstSpiffeSan(r.peerPrincipal);
    s.principal = principal;
    s.principalSource = principal === null ? null : 'logged';
    if (reporter === 'sidecar') {
      s.namespace = meta.namespace;
      s.workload = meta.workload;
      s.pod = meta.pod;
      let ip = meta.podIp;
      if (ip === null && path !== 'inbound' && r.downstreamRemoteAddress !== null)
        ip = addressIp(r.downstreamRemoteAddress);
      s.ip = ip;
      if (meta.namespace !== null && meta.workload !== null) {
        s.attribution = 'metadata';
        const key = this.keyOf(meta.namespace, meta.workload);
        s.key = key;
        if (ip !== null) this.workloads.observe(ip, meta.namespace, meta.workload, meta.pod, time);
        if (principal === null && path !== 'inbound') {
          const learned = this.principals.principalOf(key, time);
          if (learned !== null) {
            s.principal = learned;
            s.principalSource = 'learned';
          }
        }
        return;
      }
      // No metadata (bare or Docker lines): the sidecar's own pod IP may be known from other lines.
      const owner = ip === null || principal !== null ? null : this.workloads.lookup(ip, time);
      if (owner !== null) {
        s.attribution = 'pod-ip';
        s.namespace = owner.namespace;
        s.workload = owner.workload;
        s.pod = owner.pod;
        s.key = this.keyOf(owner.namespace, owner.workload);
        return;
      }
      const id = principal === null ? null : parseSpiffe(principal);
      s.attribution = id === null ? 'unknown' : 'principal';
      s.namespace ??= id?.namespace ?? null;
      s.key = principal ?? `unknown/${ip ?? '-'}`;
      return;
    }
    // Gateway line: the caller is the downstream peer.
    let ip = r.downstreamRemoteAddress === null ? null : addressIp(r.downstreamRemoteAddress);
    let owner = ip === null ? null : this.workloads.lookup(ip, time);
    // Only the direct peer's IP may teach workload -> principal: X-Forwarded-For is the client's word.
    const direct = owner !== null;
    if (owner === null && r.xForwardedFor !== null) {
      const comma = r.xForwardedFor.indexOf(',');
      const first = (comma < 0 ? r.xForwardedFor : r.xForwardedFor.slice(0, comma)).trim();
      const viaXff = this.workloads.lookup(first, time);
      if (viaXff !== null) {
        owner = viaXff;
        ip = first;
      }
    }
    s.ip = ip;
    const id = principal === null ? null : parseSpiffe(principal);
    if (id !== null) {
      s.attribution = 'principal';
      s.namespace = id.namespace;
      if (owner !== null && owner.namespace === id.namespace) {
        s.workload = owner.workload;
        s.pod = owner.pod;
        const key = this.keyOf(owner.namespace, owner.workload);
        s.key = key;
        // Teach workload -> principal only from an owner fresh at this time (IPs are reused).
        if (
          direct &&
          owner.firstSeen <= time + OWNER_GRACE_MS &&
          time - owner.lastSeen <= this.principals.ownerFreshMs
        )
          this.principals.learn(key, owner.namespace, owner.workload, principal as string, time);
        return;
      }
      const learned = this.principals.workloadOf(principal as string, time);
      if (learned !== null && learned.namespace === id.namespace) {
        s.workload = learned.workload;
        s.pod = null;
        s.key = learned.workloadKey;
      } else {
        s.workload = null;
        s.pod = null;
        s.key = principal as string;
      }
      return;
    }
    if (owner !== null) {
      s.attribution = 'pod-ip';
      s.namespace = owner.namespace;
      s.workload = owner.workload;
      s.pod = owner.pod;
      s.key = this.keyOf(owner.namespace, owner.workload);
      return;
    }
    s.attribution = principal === null ? 'unknown' : 'principal';
    s.namespace = null;
    s.workload = null;
    s.pod = null;
    s.key = principal ?? `unknown/${ip ?? '-'}`;
  }

  private clusterOf(cluster: string): ClusterName {
    // Each line's cluster name is a fresh string: a Map lookup hashes all of it first. A small
    // direct-mapped cache indexed by a few characters answers most lines with one compare.
    const len = cluster.length;
    const slot =
      (len * 7 +
        cluster.charCodeAt(len - 1) * 31 +
        cluster.charCodeAt(len >> 1) * 17 +
        cluster.charCodeAt(len - 5)) &
      RECENT_CLUSTERS_MASK;
    const recent = this.recentClusters[slot];
    if (recent !== undefined && recent.name === cluster) return recent;
    let c = this.clusters.get(cluster);
    if (c === undefined) {
      cluster = detachString(cluster);
      let host: string | null = null;
      let port = 0;
      if (cluster.startsWith('outbound|')) {
        const p2 = cluster.indexOf('|', 9);
        port = p2 > 9 ? toPort(cluster, 9, p2) : 0;
        const last = cluster.lastIndexOf('|');
        if (last + 1 < cluster.length) host = cluster.slice(last + 1);
      }
      c = {
        name: cluster,
        host,
        port,
        hostInfo: host === null ? null : this.scope.hostInfo(host),
        inbound: cluster.startsWith('inbound|') || cluster.startsWith('InboundPassthroughCluster'),
        inboundPassthrough: cluster.startsWith('InboundPassthroughCluster'),
        probesLeft: 0,
        probeGeneration: -1,
      };
      if (this.clusters.size >= 20000) this.clusters.clear();
      this.clusters.set(cluster, c);
    }
    this.recentClusters[slot] = c;
    return c;
  }

  /**
   * `namespace/workload`, the same string object for the same pair: lines of many pods interleave,
   * and a fresh key per line would be built, flattened and hashed again by every Map it is looked
   * up in. The namespace and workload strings come from the per-pod metadata cache, so finding
   * them is cheap.
   */
  private keyOf(ns: string, wl: string): string {
    if (ns === this.lastNs && wl === this.lastWl) return this.lastKey;
    let byWl = this.keys.get(ns);
    if (byWl === undefined) {
      if (this.keys.size >= 10000) this.keys.clear();
      byWl = new Map();
      this.keys.set(detachString(ns), byWl);
    }
    let key = byWl.get(wl);
    if (key === undefined) {
      if (byWl.size >= 100000) byWl.clear();
      key = detachString(`${ns}/${wl}`);
      byWl.set(detachString(wl), key);
    }
    this.lastNs = ns;
    this.lastWl = wl;
    this.lastKey = key;
    return key;
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

/** The host of an address without Envoy's `tcp://` scheme; null for an internal (`envoy://`) one. */
function addressIp(addr: string): string | null {
  const at = addressStart(addr);
  if (at < 0) return null;
  return addrHost(at === 0 ? addr : addr.slice(at));
}

function toPort(s: string, start: number, end: number): number {
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return 0;
    v = v * 10 + c;
  }
  return v;
}
