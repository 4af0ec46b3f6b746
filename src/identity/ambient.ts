/**
 * Ambient mode (no sidecars): ztunnel records and waypoint lines -> EgressEvent, called by the
 * Normalizer for a record with `ztunnel` fields or an Envoy line whose cluster is a waypoint's
 * `inbound-vip|PORT|PROTO|HOST`. Ambient legs reuse the sidecar vocabulary so that every detector
 * reads them as it reads sidecar and gateway legs, and carry `event.ambient` ('ztunnel'|'waypoint').
 *
 * ztunnel record (reporter 'sidecar': the node proxy acting for the source pod):
 * - source: `src.identity` (SPIFFE, mTLS only), else `src.workload` (a pod name) + `src.namespace`,
 *   else the pod-IP map; the record teaches the pod-IP map and the workload -> principal map, which
 *   is how waypoint lines (no principal, istio/istio#59046) get their caller;
 * - destination: `dst.service` (a ServiceEntry host, or a mesh service), else the IP, port from
 *   `dst.hbone_addr` (the address inside the tunnel), else `dst.addr`;
 * - path: inbound records are `inbound`; an outbound record to an in-mesh destination is `internal`;
 *   to an external service tunnelled over HBONE (to the egress waypoint) `sidecar-to-gateway`; to an
 *   external address with no HBONE: `passthrough` when ztunnel knew no service for it (it passes
 *   unknown addresses straight through and ignores REGISTRY_ONLY, istio/istio#54281), else
 *   `direct-external` (a ServiceEntry with no waypoint). Both are ambient bypass: the mesh did not
 *   block them, only the logs show them.
 *
 * Waypoint line (an Envoy access line of the waypoint): cluster `inbound-vip|80|http|httpbin.org`,
 * downstream local = the service VIP, downstream remote = the caller pod's IP (ztunnel keeps the
 * source address). External host: reporter 'egress-gateway', path `gateway-to-external`; in-mesh:
 * `internal`. The caller is the pod-IP map's owner of the downstream remote IP (taught by the
 * caller's ztunnel records), with the principal logged (if the mesh config adds
 * %DOWNSTREAM_PEER_URI_SAN%) or learned for that workload.
 */
import type { AccessRecord } from '../parse/types.js';
import type { ZtunnelFields } from '../parse/ztunnel.js';
import {
  addrHost,
  detachString,
  hostBefore,
  isIpLiteral,
  type MeshScope,
  portAfter,
  portColon,
} from './mesh.js';
import type { PrincipalMap } from './principal-map.js';
import { firstSpiffeSan, parseSpiffe } from './spiffe.js';
import type { EgressEvent } from './types.js';
import type { WorkloadMap } from './workload-map.js';

/** ztunnel's inbound HBONE port: a `dst.addr` on it is a tunnel to a waypoint or a remote ztunnel. */
export const HBONE_PORT = 15008;
const WAYPOINT_CLUSTER = 'inbound-vip|';

export function isWaypointCluster(cluster: string | null): cluster is string {
  return cluster !== null && cluster.charCodeAt(0) === 105 && cluster.startsWith(WAYPOINT_CLUSTER);
}

/** `inbound-vip|PORT|PROTO|HOST` split once per name. */
interface WaypointCluster {
  readonly port: number;
  readonly host: string | null;
}

export class AmbientAttribution {
  private readonly clusters = new Map<string, WaypointCluster>();

  constructor(
    private readonly scope: MeshScope,
    private readonly workloads: WorkloadMap,
    private readonly principals: PrincipalMap,
    private readonly keyOf: (namespace: string, workload: string) => string,
  ) {}

  /** Fills `e` (time, bytes, origin already set) from a ztunnel record. */
  ztunnel(z: ZtunnelFields, e: EgressEvent, time: number): void {
    e.ambient = 'ztunnel';
    e.cluster = null;
    e.protocol = 'tcp';
    e.reporter = 'sidecar';
    const d = e.destination;
    const target = z.dstHboneAddr ?? z.dstAddr;
    const tunnelled = z.dstHboneAddr !== null || addrPortOf(z.dstAddr) === HBONE_PORT;
    if (target === null) {
      d.ip = null;
      d.port = 0;
    } else {
      const colon = portColon(target);
      d.ip = hostBefore(target, colon);
      d.port = portAfter(target, colon);
    }
    const host = z.dstService;
    d.host = host;
    const info = host === null ? null : this.scope.hostInfo(host);
    d.external = info !== null ? !info.mesh : d.ip !== null && !this.scope.isMeshIp(d.ip);
    d.registeredDomain = info !== null && d.external ? info.registeredDomain : null;
    if (z.direction === 'inbound') e.path = 'inbound';
    else if (!d.external) e.path = 'internal';
    else if (tunnelled) e.path = 'sidecar-to-gateway';
    else e.path = host === null ? 'passthrough' : 'direct-external';
    this.ztunnelSource(z, e, time);
  }

  private ztunnelSource(z: ZtunnelFields, e: EgressEvent, time: number): void {
    const s = e.source;
    const principal = z.srcIdentity;
    const id = principal === null ? null : parseSpiffe(principal);
    s.principal = principal;
    s.principalSource = principal === null ? null : 'logged';
    const ip = z.srcAddr === null ? null : addrHost(z.srcAddr);
    s.ip = ip;
    const ns = z.srcNamespace ?? id?.namespace ?? null;
    const pod = z.srcWorkload;
    if (ns !== null && pod !== null) {
      const wl = workloadOfPod(pod);
      const key = this.keyOf(ns, wl);
      s.namespace = ns;
      s.workload = wl;
      s.pod = pod;
      s.key = key;
      s.attribution = id !== null ? 'principal' : 'metadata';
      // ztunnel named the pod behind this IP (it holds the workload registry): teach the maps the
      // waypoint lines are attributed with.
      if (ip !== null) this.workloads.observe(ip, ns, detachString(wl), detachString(pod), time);
      if (principal !== null && id !== null && id.namespace === ns)
        this.principals.learn(key, ns, wl, detachString(principal), time);
      return;
    }
    const owner = ip === null ? null : this.workloads.lookup(ip, time);
    if (owner !== null && (id === null || owner.namespace === id.namespace)) {
      s.namespace = owner.namespace;
      s.workload = owner.workload;
      s.pod = owner.pod;
      s.key = this.keyOf(owner.namespace, owner.workload);
      s.attribution = id !== null ? 'principal' : 'pod-ip';
      return;
    }
    s.namespace = ns;
    s.workload = null;
    s.pod = null;
    s.attribution = id !== null ? 'principal' : 'unknown';
    s.key = principal ?? `unknown/${ip ?? '-'}`;
  }

  /** Fills `e` (time, bytes, HTTP fields, origin already set) from a waypoint's Envoy line. */
  waypoint(r: AccessRecord, cluster: string, e: EgressEvent, time: number): void {
    e.ambient = 'waypoint';
    e.cluster = cluster;
    const c = this.clusterOf(cluster);
    let sni = r.requestedServerName;
    if (sni?.startsWith('outbound_.')) sni = null;
    const authority = r.authority === null ? null : addrHost(r.authority);
    const authHost = authority !== null && !isIpLiteral(authority) ? authority : null;
    e.protocol = r.method !== null ? 'http' : sni !== null ? 'tls' : 'tcp';
    const d = e.destination;
    const host = sni ?? authHost ?? c.host;
    d.host = host;
    // The upstream Envoy connected to (the resolved external address); `envoy://...` for in-mesh hops.
    const up = r.upstreamHost;
    if (up !== null && !up.startsWith('envoy://')) {
      const colon = portColon(up);
      d.ip = hostBefore(up, colon);
      d.port = c.port || portAfter(up, colon);
    } else {
      d.ip = null;
      d.port = c.port;
    }
    const info = host === null ? null : this.scope.hostInfo(host);
    d.external = info !== null ? !info.mesh : d.ip !== null && !this.scope.isMeshIp(d.ip);
    d.registeredDomain = info !== null && d.external ? info.registeredDomain : null;
    e.reporter = d.external ? 'egress-gateway' : 'ingress-gateway';
    e.path = d.external ? 'gateway-to-external' : 'internal';

    const s = e.source;
    const logged = firstSpiffeSan(r.peerPrincipal);
    const id = logged === null ? null : parseSpiffe(logged);
    const ip = r.downstreamRemoteAddress === null ? null : addrHost(r.downstreamRemoteAddress);
    s.ip = ip;
    const owner = ip === null ? null : this.workloads.lookup(ip, time);
    if (owner !== null && (id === null || owner.namespace === id.namespace)) {
      const key = this.keyOf(owner.namespace, owner.workload);
      s.namespace = owner.namespace;
      s.workload = owner.workload;
      s.pod = owner.pod;
      s.key = key;
      if (logged !== null) {
        s.principal = logged;
        s.principalSource = 'logged';
        s.attribution = 'principal';
        return;
      }
      const learned = this.principals.principalOf(key, time);
      s.principal = learned;
      s.principalSource = learned === null ? null : 'learned';
      s.attribution = 'pod-ip';
      return;
    }
    s.principal = logged;
    s.principalSource = logged === null ? null : 'logged';
    s.namespace = id?.namespace ?? null;
    s.workload = null;
    s.pod = null;
    s.attribution = id !== null ? 'principal' : 'unknown';
    s.key = logged ?? `unknown/${ip ?? '-'}`;
  }

  private clusterOf(cluster: string): WaypointCluster {
    let c = this.clusters.get(cluster);
    if (c === undefined) {
      // inbound-vip|PORT|PROTO|HOST
      const parts = cluster.split('|');
      const port = Number(parts[1]);
      const host = parts[3] ?? '';
      c = { port: Number.isInteger(port) ? port : 0, host: host.length > 0 ? host : null };
      if (this.clusters.size >= 20000) this.clusters.clear();
      this.clusters.set(detachString(cluster), c);
    }
    return c;
  }
}

/**
 * Kubernetes generates pod-name suffixes (ReplicaSet hash, pod suffix) from an alphabet without
 * vowels and without 0, 1, 3 (k8s.io/apimachinery rand.String / SafeEncodeString): `istio-debug`
 * is a bare pod's name, `sleep-7656cf8794-r7zb9` a Deployment's pod. Only such suffixes are cut.
 */
const GENERATED = '[bcdfghjklmnpqrstvwxz2456789]';
const DEPLOYMENT_POD = new RegExp(`-${GENERATED}{6,10}-${GENERATED}{5}$`);
/** A CronJob's Job is `<cronjob>-<scheduled time in minutes>`, its pod adds a generated suffix. */
const CRONJOB_POD = new RegExp(`-\\d{8,}-${GENERATED}{5}$`);
const DAEMONSET_POD = new RegExp(`-${GENERATED}{5}$`);
const STATEFULSET_POD = /-\d+$/;
const podWorkloads = new Map<string, string>();

export function workloadOfPod(pod: string): string {
  const hit = podWorkloads.get(pod);
  if (hit !== undefined) return hit;
  let w = pod.replace(DEPLOYMENT_POD, '');
  if (w === pod) w = pod.replace(CRONJOB_POD, '');
  if (w === pod) w = pod.replace(STATEFULSET_POD, '');
  if (w === pod) w = pod.replace(DAEMONSET_POD, '');
  if (podWorkloads.size >= 10000) podWorkloads.clear();
  podWorkloads.set(detachString(pod), w);
  return w;
}

function addrPortOf(addr: string | null): number {
  if (addr === null) return 0;
  return portAfter(addr, portColon(addr));
}
