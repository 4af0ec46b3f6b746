/**
 * AccessRecord + ShipperMeta -> EgressEvent: who (source identity), which proxy (reporter), which
 * way (path) and where (destination).
 *
 * Reuse: `normalize` fills and returns ONE event object owned by the Normalizer (and its nested
 * source/destination). It is valid until the next call; consumers that keep events must copy them
 * (`copyEvent`). Measured: reusing saves ~5% over allocating three objects per line.
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
import type { MeshConfig } from './config.js';
import {
  addrHost,
  addrPort,
  detachString,
  type HostInfo,
  hostBefore,
  isIpLiteral,
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
}

export function newEgressEvent(): EgressEvent {
  return {
    time: 0,
    reporter: 'sidecar',
    protocol: 'tcp',
    path: 'internal',
    cluster: null,
    bytesUp: 0,
    bytesDown: 0,
    durationMs: 0,
    responseCode: 0,
    responseFlags: null,
    requestId: null,
    method: null,
    httpPath: null,
    source: {
      principal: null,
      principalSource: null,
      namespace: null,
      workload: null,
      pod: null,
      ip: null,
      attribution: 'unknown',
      key: '',
    },
    destination: {
      host: null,
      registeredDomain: null,
      ip: null,
      port: 0,
      external: false,
    },
    origin: '',
    upstreamLocalAddress: null,
    downstreamRemoteAddress: null,
    sni: null,
    join: null,
  };
}

export function copyEvent(e: EgressEvent): EgressEvent {
  return { ...e, source: { ...e.source }, destination: { ...e.destination } };
}

export type NormalizerConfig = Pick<MeshConfig, 'meshCidrs' | 'meshDomains' | 'egressGatewayHosts'> &
  Partial<Pick<MeshConfig, 'podIpMapSize' | 'podIpMaxIdleMs'>>;

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

  constructor(config: NormalizerConfig) {
    this.scope = new MeshScope(config);
    this.workloads = new WorkloadMap(config.podIpMapSize, config.podIpMaxIdleMs);
    this.principals = new PrincipalMap(config.podIpMapSize);
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
    const source = origin.source;
    if (source !== this.lastSource) {
      this.lastSource = source;
      this.lastSourceSep = source.startsWith('kafka:') ? '/' : ':';
    }
    e.origin = `${source}${this.lastSourceSep}${origin.position}`;

    const cluster = r.upstreamCluster;
    e.cluster = cluster;
    // The same few hundred cluster names repeat: split each once (host, port, kind), not per line.
    const ci = cluster === null ? null : this.clusterOf(cluster);
    const clusterHost = ci === null ? null : ci.host;
    const clusterPort = ci === null ? 0 : ci.port;
    const clusterInfo = ci === null ? null : ci.hostInfo;
    const clusterExternal = clusterInfo !== null && !clusterInfo.mesh;

    // Destination host candidates; Istio's own mTLS SNI (`outbound_.8000_._.x.svc...`) is not one.
    let sni = r.requestedServerName;
    if (sni !== null && sni.charCodeAt(0) === 111 && sni.startsWith('outbound_.')) sni = null;
    e.sni = sni;
    // The connection's own addresses: what joins a sidecar's leg to the gateway's (detect/join.ts).
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
    e.protocol = r.method !== null ? 'http' : r.requestedServerName !== null ? 'tls' : 'tcp';

    const reporter = this.reporterOf(r, meta, clusterHost, clusterExternal);
    e.reporter = reporter;

    // Path.
    let path: EgressPath;
    const toGateway = clusterInfo?.egressGateway === true;
    if (ci?.inbound) path = 'inbound';
    else if (
      cluster === 'BlackHoleCluster' ||
      r.routeName === 'block_all' ||
      (cluster === null && r.responseCode === 502 && r.responseCodeDetails === 'direct_response')
    )
      path = 'blackhole';
    else if (reporter === 'sidecar') {
      if (cluster === 'PassthroughCluster') path = 'passthrough';
      else if (toGateway) path = 'sidecar-to-gateway';
      else if (clusterHost !== null) path = clusterExternal ? 'direct-external' : 'internal';
      else path = 'internal'; // refined below once the destination is known
    } else
      path =
        clusterHost !== null
          ? clusterExternal && !toGateway
            ? reporter === 'egress-gateway'
              ? 'gateway-to-external'
              : 'direct-external'
            : 'internal'
          : 'internal';

    // Destination.
    const d = e.destination;
    let host = sni ?? authHost;
    if (host === null && path !== 'sidecar-to-gateway') host = clusterHost;
    d.host = host;
    const useLocal =
      reporter === 'sidecar' &&
      (path === 'sidecar-to-gateway' || path === 'inbound' || r.upstreamHost === null);
    const addr = useLocal ? (r.downstreamLocalAddress ?? r.upstreamHost) : (r.upstreamHost ?? null);
    if (addr === null) {
      d.ip = authIp;
      d.port = clusterPort;
    } else {
      const colon = portColon(addr);
      d.ip = hostBefore(addr, colon);
      d.port = portAfter(addr, colon) || clusterPort;
    }
    // Usually the cluster's own host (SNI or authority naming it): its facts are already at hand.
    const hostInfo =
      host === null
        ? null
        : clusterInfo !== null && host === clusterHost
          ? clusterInfo
          : scope.hostInfo(host);
    if (hostInfo !== null) d.external = !hostInfo.mesh;
    else if (d.ip !== null) d.external = !scope.isMeshIp(d.ip);
    else d.external = path !== 'internal' && path !== 'inbound';
    if (path === 'internal' && cluster === null && d.external && reporter === 'sidecar')
      path = 'direct-external';
    e.path = path;
    d.registeredDomain = hostInfo !== null && d.external ? hostInfo.registeredDomain : null;

    this.attribute(r, meta, reporter, path, time);
    return e;
  }

  private reporterOf(
    r: AccessRecord,
    meta: ShipperMeta,
    clusterHost: string | null,
    clusterExternal: boolean,
  ): Reporter {
    const label = meta.istioLabel;
    if (label !== null) {
      if (label.includes('egress')) return 'egress-gateway';
      if (label.includes('ingress')) return 'ingress-gateway';
    }
    if (meta.gatewayName !== null) {
      return meta.gatewayName.includes('egress') || clusterExternal ? 'egress-gateway' : 'ingress-gateway';
    }
    const pod = meta.pod;
    if (pod !== null) {
      if (pod.charCodeAt(0) === 105) {
        if (pod.startsWith('istio-egressgateway')) return 'egress-gateway';
        if (pod.startsWith('istio-ingressgateway')) return 'ingress-gateway';
      }
      return 'sidecar';
    }
    if (clusterHost !== null && r.downstreamLocalAddress !== null) {
      const local = r.downstreamLocalAddress;
      const ownIp = sameIp(local, r.upstreamLocalAddress);
      if (ownIp || (GATEWAY_PORTS.has(addrPort(local)) && clusterExternal)) {
        return clusterExternal ? 'egress-gateway' : 'ingress-gateway';
      }
    }
    return 'sidecar';
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
        ip = addrHost(r.downstreamRemoteAddress);
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
    let ip = r.downstreamRemoteAddress === null ? null : addrHost(r.downstreamRemoteAddress);
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

function toPort(s: string, start: number, end: number): number {
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return 0;
    v = v * 10 + c;
  }
  return v;
}

function sameIp(a: string, b: string | null): boolean {
  return b !== null && addrHost(a) === addrHost(b);
}
