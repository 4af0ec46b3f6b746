/**
 * The simulated mesh in Istio's ambient mode, or mixed (some namespaces ambient, the rest with
 * sidecars), from the same traffic and attacks as the sidecar mesh: each simulated record of a pod in
 * an ambient namespace becomes what ambient mode logs for that connection instead.
 *
 * - a sidecar's leg to the egress gateway -> the node's ztunnel record of the HBONE connection to
 *   the egress waypoint (`dst.addr` waypoint:15008, `dst.hbone_addr` the ServiceEntry VIP,
 *   `dst.service` the external host, identities on both sides);
 * - the gateway's leg out -> the egress waypoint's Envoy line (`inbound-vip|443|tcp|HOST`, downstream
 *   local = the VIP, downstream remote = the caller pod's IP, no peer principal: istio/istio#59046);
 * - PassthroughCluster (ALLOW_ANY) -> a ztunnel record straight to the external address, no service,
 *   no identities (ambient bypass);
 * - BlackHoleCluster (REGISTRY_ONLY) -> ztunnel ignores REGISTRY_ONLY (istio/istio#54281): the
 *   connection goes out; the probed ports refuse it (`error="io error: Connection refused ..."`);
 * - in-mesh calls -> outbound and inbound ztunnel records over HBONE.
 *
 * Record shapes follow the published ones in test/fixtures/ztunnel-lines.txt; pod names use
 * Kubernetes' generated-name alphabet, as ztunnel logs pod names (`src.workload`).
 */
import type { ManifestAttack } from './attacks.js';
import { type EnvelopeName, wrapLine } from './envelope.js';
import type { SimRecord } from './record.js';
import { type LogFormat, renderLine } from './render.js';
import { hash32 } from './rng.js';
import { Cluster, type Pod, principalOf, WORKLOADS, type WorkloadSpec } from './topology.js';

export const DATAPLANES = ['sidecar', 'ambient', 'mixed'] as const;
export type Dataplane = (typeof DATAPLANES)[number];

/** The mixed mesh: these namespaces are enrolled in ambient, the others keep their sidecars. */
export const MIXED_AMBIENT_NAMESPACES: readonly string[] = ['app-a', 'web', 'monitoring'];

export const WAYPOINT: WorkloadSpec = {
  namespace: 'istio-egress',
  workload: 'egress-waypoint',
  serviceAccount: 'egress-waypoint',
  replicas: 2,
  kind: 'gateway',
  labels: {
    'gateway.networking.k8s.io/gateway-name': 'egress-waypoint',
    'gateway.istio.io/managed': 'istio.io-mesh-controller',
    'service.istio.io/canonical-name': 'egress-waypoint',
  },
};

const ZTUNNEL: WorkloadSpec = {
  namespace: 'istio-system',
  workload: 'ztunnel',
  serviceAccount: 'ztunnel',
  replicas: 3,
  kind: 'deployment',
  labels: { app: 'ztunnel', 'app.kubernetes.io/name': 'ztunnel', 'sidecar.istio.io/inject': 'false' },
};

const HBONE_PORT = 15008;
const REFUSED = 'io error: Connection refused (os error 111)';

/** One ztunnel access record before rendering (fields ztunnel leaves out are null). */
export interface ZtunnelSimRecord {
  readonly kind: 'ztunnel';
  /** Connection start, epoch ms (the record's time is start + duration). */
  start: number;
  emit: number;
  /** The ztunnel pod that wrote it (the node's). */
  reporter: Pod;
  srcAddr: string;
  srcWorkload: string | null;
  srcNamespace: string | null;
  srcIdentity: string | null;
  dstAddr: string;
  dstHboneAddr: string | null;
  dstService: string | null;
  dstWorkload: string | null;
  dstNamespace: string | null;
  dstIdentity: string | null;
  direction: 'outbound' | 'inbound';
  bytesSent: number;
  bytesRecv: number;
  duration: number;
  error: string | null;
}

export type AmbientRecord = SimRecord | ZtunnelSimRecord;

function isZtunnel(r: AmbientRecord): r is ZtunnelSimRecord {
  return (r as ZtunnelSimRecord).kind === 'ztunnel';
}

/** ztunnel's timestamp: microseconds, UTC. */
function stamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, -1)}${String(Math.floor(ms * 1000) % 1000).padStart(3, '0')}Z`;
}

const TEXT_KEYS = [
  ['src.addr', 'srcAddr', false],
  ['src.workload', 'srcWorkload', true],
  ['src.namespace', 'srcNamespace', true],
  ['src.identity', 'srcIdentity', true],
  ['dst.addr', 'dstAddr', false],
  ['dst.hbone_addr', 'dstHboneAddr', false],
  ['dst.service', 'dstService', true],
  ['dst.workload', 'dstWorkload', true],
  ['dst.namespace', 'dstNamespace', true],
  ['dst.identity', 'dstIdentity', true],
] as const;

/** As ztunnel writes it: TEXT (tab-separated, Debug-quoted strings) or JSON (`LOG_FORMAT=json`). */
export function renderZtunnel(r: ZtunnelSimRecord, format: LogFormat): string {
  const end = r.start + r.duration;
  const level = r.error === null ? 'info' : 'error';
  if (format === 'json') {
    const o: Record<string, string | number> = {
      level,
      time: stamp(end),
      scope: 'access',
      message: 'connection complete',
    };
    for (const [key, field] of TEXT_KEYS) {
      const v = r[field];
      if (v !== null) o[key] = v;
    }
    o.direction = r.direction;
    o.bytes_sent = r.bytesSent;
    o.bytes_recv = r.bytesRecv;
    o.duration = `${r.duration}ms`;
    if (r.error !== null) o.error = r.error;
    return JSON.stringify(o);
  }
  const parts: string[] = [];
  for (const [key, field, quoted] of TEXT_KEYS) {
    const v = r[field];
    if (v !== null) parts.push(quoted ? `${key}=${JSON.stringify(v)}` : `${key}=${v}`);
  }
  parts.push(`direction="${r.direction}"`, `bytes_sent=${r.bytesSent}`, `bytes_recv=${r.bytesRecv}`);
  parts.push(`duration="${r.duration}ms"`);
  if (r.error !== null) parts.push(`error=${JSON.stringify(r.error)}`);
  return `${stamp(end)}\t${level}\taccess\tconnection complete\t${parts.join(' ')}`;
}

/** A rendered, shipper-wrapped line for either kind of record. */
export function renderAmbientLine(r: AmbientRecord, format: LogFormat, envelope: EnvelopeName): string {
  return wrapLine(isZtunnel(r) ? renderZtunnel(r, format) : renderLine(r, format), r, envelope);
}

/** Kubernetes' generated-name alphabet (no vowels, no 0/1/3): ztunnel logs such pod names. */
const K8S_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
function k8sSuffix(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += K8S_ALPHABET[s.charCodeAt(i) % K8S_ALPHABET.length];
  return out;
}

/** `<workload>-<hash>-<suffix>` as Kubernetes would spell the simulated pod's name. */
export function k8sPodName(pod: Pod): string {
  const w = pod.spec.workload;
  const rest = pod.name.slice(w.length + 1);
  const dash = rest.lastIndexOf('-');
  if (dash < 0) return pod.name;
  const middle = rest.slice(0, dash);
  // CronJob pods keep their scheduled minute (digits) in the middle.
  return `${w}-${/^\d+$/.test(middle) ? middle : k8sSuffix(middle)}-${k8sSuffix(rest.slice(dash + 1))}`;
}

/** The ServiceEntry VIP Istio auto-allocates (240.240.0.0/16) for an external host. */
export function serviceEntryVip(host: string): string {
  const h = hash32(`vip/${host}`);
  return `240.240.${(h >>> 8) & 0xff}.${(h & 0xfe) + 1}`;
}

function ipOf(addr: string): string {
  return addr.slice(0, addr.lastIndexOf(':'));
}

function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(':') + 1));
}

/** Converts simulated sidecar-mesh records into what an ambient (or mixed) mesh logs. */
export class AmbientMesh {
  private readonly ambientNamespaces: ReadonlySet<string> | null;
  private readonly byIp = new Map<string, Pod[]>();
  private readonly waypoints = new Map<string, Pod>();
  private readonly ztunnels = new Map<string, Pod>();
  private readonly names = new Map<Pod, string>();

  constructor(
    readonly dataplane: Exclude<Dataplane, 'sidecar'>,
    seed: string | number,
    start: number,
    end: number,
  ) {
    this.ambientNamespaces = dataplane === 'ambient' ? null : new Set(MIXED_AMBIENT_NAMESPACES);
    // The same pods generateTraffic's run sees (the topology is deterministic per seed).
    for (const pod of new Cluster(seed, start, end).pods) {
      const list = this.byIp.get(pod.ip);
      if (list === undefined) this.byIp.set(pod.ip, [pod]);
      else list.push(pod);
    }
  }

  isAmbient(namespace: string): boolean {
    return this.ambientNamespaces === null || this.ambientNamespaces.has(namespace);
  }

  /** What ambient mode logs for `r` (the record itself when its pod keeps a sidecar). */
  convert(r: SimRecord): AmbientRecord {
    const reporter = r.reporter;
    if (reporter.spec.kind === 'gateway') return this.gatewayLeg(r);
    if (!this.isAmbient(reporter.spec.namespace)) return r;
    const cluster = r.cluster;
    if (cluster.startsWith('inbound|')) return this.inbound(r);
    if (cluster === 'PassthroughCluster') return this.direct(r, r.upstreamHost, null);
    if (cluster === 'BlackHoleCluster') return this.direct(r, r.downstreamLocal, REFUSED);
    if (r.host !== '-' && r.reporter.spec.kind !== 'gateway') return this.toWaypoint(r);
    if (cluster.startsWith('outbound|')) return this.inMesh(r);
    return r;
  }

  /** The attacks as they play out on this mesh (which rule catches them, what they look like). */
  adjust(attacks: readonly ManifestAttack[]): ManifestAttack[] {
    return attacks.map((a) => {
      if (
        a.source.namespace === 'unknown' ? this.dataplane !== 'ambient' : !this.isAmbient(a.source.namespace)
      )
        return a;
      switch (a.name) {
        case 'bypass':
          return {
            ...a,
            description:
              "App A's ztunnel sends straight out to external addresses (ambient bypass): no waypoint, no ServiceEntry, and nothing in the mesh blocks it.",
          };
        case 'blocked-probing':
          return {
            ...a,
            rule: 'gateway-bypass',
            also: ['forbidden-destination', 'new-destination'],
            description:
              'An app B pod probes external addresses and ports; ztunnel ignores REGISTRY_ONLY, so every attempt leaves the mesh (refused by the targets): ambient bypass, not blocked egress.',
          };
        case 'impersonation':
          return {
            ...a,
            description:
              'A client outside the mesh (no ztunnel record, no identity) connects to the egress waypoint to reach mongo1.composedb.com.',
          };
        case 'gateway-silence':
          return {
            ...a,
            description:
              "The egress waypoint's access logs stop for 30 minutes while ztunnels keep tunnelling connections to it.",
          };
        default:
          return a;
      }
    });
  }

  private podAt(ip: string, time: number): Pod | undefined {
    const list = this.byIp.get(ip);
    if (list === undefined) return undefined;
    for (const pod of list) if (pod.from <= time && time < pod.to) return pod;
    return undefined;
  }

  private podName(pod: Pod): string {
    let name = this.names.get(pod);
    if (name === undefined) {
      name = k8sPodName(pod);
      this.names.set(pod, name);
    }
    return name;
  }

  private ztunnelOn(node: string): Pod {
    let z = this.ztunnels.get(node);
    if (z === undefined) {
      const n = this.ztunnels.size;
      z = {
        name: `ztunnel-${k8sSuffix(`${node}zt`).slice(0, 5)}`,
        uid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
        ip: `10.244.251.${n + 2}`,
        node,
        spec: ZTUNNEL,
        principal: principalOf(ZTUNNEL),
        from: Number.NEGATIVE_INFINITY,
        to: Number.POSITIVE_INFINITY,
        dockerId: `${hash32(node).toString(16).padStart(8, '0')}`.repeat(8),
      };
      this.ztunnels.set(node, z);
    }
    return z;
  }

  /** The egress waypoint pod standing where the simulated egress gateway pod is. */
  private waypointFor(gateway: Pod): Pod {
    let w = this.waypoints.get(gateway.name);
    if (w === undefined) {
      const n = this.waypoints.size;
      const rest = gateway.name.slice(gateway.spec.workload.length);
      w = {
        ...gateway,
        name: k8sPodName({ ...gateway, name: `${WAYPOINT.workload}${rest}`, spec: WAYPOINT }),
        ip: `10.244.250.${n + 2}`,
        spec: WAYPOINT,
        principal: principalOf(WAYPOINT),
      };
      this.waypoints.set(gateway.name, w);
    }
    return w;
  }

  private gatewayPodAt(ip: string, time: number): Pod | undefined {
    const pod = this.podAt(ip, time);
    return pod?.spec === WORKLOADS.gateway ? pod : undefined;
  }

  private base(r: SimRecord, node: string): ZtunnelSimRecord {
    return {
      kind: 'ztunnel',
      start: r.start,
      emit: r.emit,
      reporter: this.ztunnelOn(node),
      srcAddr: r.downstreamRemote,
      srcWorkload: null,
      srcNamespace: null,
      srcIdentity: null,
      dstAddr: '',
      dstHboneAddr: null,
      dstService: null,
      dstWorkload: null,
      dstNamespace: null,
      dstIdentity: null,
      direction: 'outbound',
      bytesSent: r.bytesReceived,
      bytesRecv: r.bytesSent,
      duration: r.duration,
      error: null,
    };
  }

  private source(z: ZtunnelSimRecord, pod: Pod, mtls: boolean): void {
    z.srcWorkload = this.podName(pod);
    z.srcNamespace = pod.spec.namespace;
    z.srcIdentity = mtls ? pod.principal : null;
  }

  private destination(z: ZtunnelSimRecord, pod: Pod): void {
    z.dstWorkload = this.podName(pod);
    z.dstNamespace = pod.spec.namespace;
    z.dstIdentity = pod.principal;
  }

  /** The caller's leg to the egress gateway becomes its HBONE connection to the egress waypoint. */
  private toWaypoint(r: SimRecord): AmbientRecord {
    const gateway = this.gatewayPodAt(ipOf(r.upstreamHost), r.start);
    if (gateway === undefined) return r;
    const waypoint = this.waypointFor(gateway);
    // Every egress shape (TLS, plain TCP, HTTP): the host and the port the app dialled.
    const host = r.host;
    const port = portOf(r.downstreamLocal);
    const z = this.base(r, r.reporter.node);
    this.source(z, r.reporter, true);
    z.dstAddr = `${waypoint.ip}:${HBONE_PORT}`;
    z.dstHboneAddr = `${serviceEntryVip(host)}:${port}`;
    z.dstService = host;
    this.destination(z, waypoint);
    return z;
  }

  /** The egress gateway's leg out becomes the egress waypoint's (for callers in ambient namespaces). */
  private gatewayLeg(r: SimRecord): SimRecord {
    const clientIp = ipOf(r.downstreamRemote);
    const client = this.podAt(clientIp, r.start);
    const ambientClient =
      client === undefined ? this.dataplane === 'ambient' : this.isAmbient(client.spec.namespace);
    if (!ambientClient) return r;
    const waypoint = this.waypointFor(r.reporter);
    const host = r.host;
    const port = portOf(r.upstreamHost);
    return {
      ...r,
      reporter: waypoint,
      cluster: `inbound-vip|${port}|tcp|${host}`,
      upstreamLocal: `${waypoint.ip}:${portOf(r.upstreamLocal)}`,
      downstreamLocal: `${serviceEntryVip(host)}:${port}`,
      // The waypoint logs no peer principal by default (istio/istio#59046).
      peerUriSan: '-',
      route: '-',
    };
  }

  /** Straight out of the node's ztunnel to an external address: no ServiceEntry, no waypoint. */
  private direct(r: SimRecord, target: string, error: string | null): ZtunnelSimRecord {
    const z = this.base(r, r.reporter.node);
    this.source(z, r.reporter, false);
    z.dstAddr = target;
    z.error = error;
    if (error !== null) {
      z.bytesSent = 0;
      z.bytesRecv = 0;
      z.duration = hash32(`${r.downstreamRemote}/${target}`) % 40;
    }
    return z;
  }

  /** An in-mesh call's client side: HBONE to the server pod's node. */
  private inMesh(r: SimRecord): AmbientRecord {
    const server = this.podAt(ipOf(r.upstreamHost), r.start);
    if (server === undefined) return r;
    const z = this.base(r, r.reporter.node);
    this.source(z, r.reporter, true);
    z.dstAddr = `${server.ip}:${HBONE_PORT}`;
    z.dstHboneAddr = r.upstreamHost;
    z.dstService = r.cluster.slice(r.cluster.lastIndexOf('|') + 1);
    this.destination(z, server);
    return z;
  }

  /** An in-mesh call's server side, written by the server node's ztunnel. */
  private inbound(r: SimRecord): AmbientRecord {
    const client = this.podAt(ipOf(r.downstreamRemote), r.start);
    if (client === undefined) return r;
    const server = r.reporter;
    const z = this.base(r, server.node);
    this.source(z, client, true);
    z.direction = 'inbound';
    z.dstAddr = `${server.ip}:${HBONE_PORT}`;
    z.dstHboneAddr = r.downstreamLocal;
    const sni = r.sni;
    z.dstService = sni.startsWith('outbound_.') ? sni.slice(sni.indexOf('_._.') + 4) : null;
    this.destination(z, server);
    // Inbound: bytes_sent is what the destination sent back.
    z.bytesSent = r.bytesSent;
    z.bytesRecv = r.bytesReceived;
    return z;
  }
}
