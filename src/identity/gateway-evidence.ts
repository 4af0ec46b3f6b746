/**
 * Egress gateways found in the lines: proxies seen acting as one (by metadata or by their lines),
 * whose pod IPs become evidence for other lines (a sidecar sending to such a pod sends to a gateway,
 * whatever its service is called), and gateway services sidecars sent to; counted for the start-up
 * and summary messages.
 */
import type { ShipperMeta } from '../parse/types.js';
import type { ClusterName } from './cluster-names.js';
import { addrHost, detachString, isIpLiteral, isLoopback } from './mesh.js';

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

export class GatewayEvidence {
  /** Pod IPs of proxies seen acting as egress gateways (evidence for other lines). */
  readonly ips = new Set<string>();
  /** Bumped whenever a gateway pod IP is learned: clusters are probed again. */
  private generation = 0;
  private readonly seen = new Map<string, GatewaySeen>();
  private lastGateway: GatewaySeen | null = null;
  private lastGatewayPod: string | null = null;
  private lastGatewayIp: string | null = null;

  /** Should this cluster's endpoint be checked against the gateway pod IPs learned so far? */
  shouldProbe(ci: ClusterName): boolean {
    if (this.ips.size === 0) return false;
    if (ci.probeGeneration !== this.generation) {
      ci.probeGeneration = this.generation;
      ci.probesLeft = GATEWAY_PROBES;
    }
    if (ci.probesLeft === 0) return false;
    ci.probesLeft--;
    return true;
  }

  /** A gateway proxy seen: its pod IP becomes evidence for other lines; counted for the summary. */
  sawProxy(meta: ShipperMeta, local: string | null, time: number): void {
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
    if (ip !== null && this.ips.size < 10000 && !this.ips.has(ip) && isIpLiteral(ip) && !isLoopback(ip)) {
      this.ips.add(detachString(ip));
      this.generation++;
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
    this.count(name, pod !== null ? 'pod' : 'proxy', time);
    this.lastGatewayPod = pod === null ? null : detachString(pod);
    this.lastGatewayIp = pod === null && ip !== null ? detachString(ip) : null;
  }

  /** A gateway service a sidecar sent to, counted for the summary. */
  sawService(host: string, time: number): void {
    this.count(host, 'service', time);
  }

  private count(name: string, kind: GatewaySeen['kind'], time: number): void {
    const last = this.lastGateway;
    if (last !== null && last.name === name) {
      last.legs++;
      if (time > last.lastSeen) last.lastSeen = time;
      return;
    }
    let g = this.seen.get(name);
    if (g === undefined) {
      if (this.seen.size >= 1000) return;
      g = { name: detachString(name), kind, legs: 0, firstSeen: time, lastSeen: time };
      this.seen.set(g.name, g);
    }
    g.legs++;
    if (time > g.lastSeen) g.lastSeen = time;
    this.lastGateway = g;
  }

  /** Egress gateways found in the lines so far: proxies that acted as one, and gateway services sidecars sent to. */
  list(): readonly GatewaySeen[] {
    return [...this.seen.values()];
  }
}
