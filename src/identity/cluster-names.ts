/**
 * What an Envoy cluster name says (`outbound|PORT|SUBSET|HOST`, `PassthroughCluster`, `inbound|...`,
 * `InboundPassthroughCluster*`): host, port, and what the mesh scope knows of that host, worked out
 * once per name and cached (the same few hundred names repeat on every line).
 */
import { detachString, type HostInfo, type MeshScope } from './mesh.js';

const RECENT_CLUSTERS_MASK = 255;

/** What `outbound|PORT|SUBSET|HOST` (or another cluster name) says, computed once per name. */
export interface ClusterName {
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

export class ClusterNames {
  private readonly clusters = new Map<string, ClusterName>();
  private readonly recent: (ClusterName | undefined)[] = new Array(RECENT_CLUSTERS_MASK + 1).fill(undefined);

  constructor(private readonly scope: MeshScope) {}

  /** The facts of `cluster` (one of a few hundred names that repeat on every line). */
  of(cluster: string): ClusterName {
    // Each line's cluster name is a fresh string: a Map lookup hashes all of it first. A small
    // direct-mapped cache indexed by a few characters answers most lines with one compare.
    const len = cluster.length;
    const slot =
      (len * 7 +
        cluster.charCodeAt(len - 1) * 31 +
        cluster.charCodeAt(len >> 1) * 17 +
        cluster.charCodeAt(len - 5)) &
      RECENT_CLUSTERS_MASK;
    const recent = this.recent[slot];
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
    this.recent[slot] = c;
    return c;
  }

  /** Forgets every cached name: their facts hold the scope's answers from before (a gateway host learned). */
  clear(): void {
    this.clusters.clear();
    this.recent.fill(undefined);
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
