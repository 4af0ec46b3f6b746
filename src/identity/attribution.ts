/**
 * Who sent a sidecar or gateway line (ambient-mode lines: ambient.ts). Sidecar lines use the
 * metadata (and teach the pod-IP map); their principal, which the line does not carry, is the one
 * their workload was learned to present at the gateway (`principalSource: 'learned'`, see
 * principal-map.ts). Gateway lines use the SPIFFE principal (%DOWNSTREAM_PEER_URI_SAN%) when logged,
 * mapped to `namespace/workload` through the pod-IP map when the owner's namespace agrees (and then
 * teach the principal map), else through the principal map when the principal was learned for
 * exactly one workload; otherwise the key is the principal itself. Without a principal, the caller's
 * IP (downstream remote address, else the first X-Forwarded-For hop) is looked up in the pod-IP map;
 * otherwise the key is `unknown/<ip>`.
 */
import type { AccessRecord, ShipperMeta } from '../parse/types.js';
import { addressStart, addrHost, detachString } from './mesh.js';
import type { PrincipalMap } from './principal-map.js';
import { firstSpiffeSan, parseSpiffe } from './spiffe.js';
import type { EgressPath, Reporter, SourceIdentity } from './types.js';
import type { WorkloadMap } from './workload-map.js';

/** A pod's first sidecar line may be logged a little after its first gateway leg. */
const OWNER_GRACE_MS = 5000;

export class SourceAttribution {
  private lastNs: string | null = null;
  private lastWl: string | null = null;
  private lastKey = '';
  private readonly keys = new Map<string, Map<string, string>>();

  constructor(
    private readonly workloads: WorkloadMap,
    private readonly principals: PrincipalMap,
  ) {}

  /** Fills `s` for a sidecar or gateway line of `reporter` whose path is `path`. */
  attribute(
    s: SourceIdentity,
    r: AccessRecord,
    meta: ShipperMeta,
    reporter: Reporter,
    path: EgressPath,
    time: number,
  ): void {
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

  /**
   * `namespace/workload`, the same string object for the same pair: lines of many pods interleave,
   * and a fresh key per line would be built, flattened and hashed again by every Map it is looked
   * up in. The namespace and workload strings come from the per-pod metadata cache, so finding
   * them is cheap.
   */
  keyOf(ns: string, wl: string): string {
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

/** The host of an address without Envoy's `tcp://` scheme; null for an internal (`envoy://`) one. */
function addressIp(addr: string): string | null {
  const at = addressStart(addr);
  if (at < 0) return null;
  return addrHost(at === 0 ? addr : addr.slice(at));
}
