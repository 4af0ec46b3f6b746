/**
 * Workload <-> SPIFFE principal, LEARNED from egress-gateway legs. A gateway line carries the
 * caller's principal (%DOWNSTREAM_PEER_URI_SAN%) and its pod IP (downstream remote address); the
 * pod-IP map (from sidecar lines' metadata) names the workload behind that IP at that event time.
 * Sidecar lines carry no principal, so without this a principal-based AuthorizationPolicy cannot
 * decide them ("unknown"); with it the sidecar leg gets the principal its workload presents at the
 * gateway (`source.principalSource = 'learned'`).
 *
 * Freshness, by event time: a pairing is learned only when the IP's owner was seen on a sidecar line
 * recently (`ownerFreshMs`) and lives in the principal's namespace (service accounts are namespaced),
 * so a reused IP whose new pod has not logged yet teaches nothing. A workload keeps its last few
 * principals with first/last seen; a lookup at time t picks, among those first seen by t, the one
 * seen most recently (a redeploy under a new service account takes over); beside another principal
 * a pairing seen only once is ignored (one stray pairing through a reused IP does not stick). Pairings idle for `maxIdleMs` are forgotten; the map is capped (least recently
 * learned workload evicted first).
 *
 * The reverse direction (principal -> workload) is used for gateway legs whose IP the pod-IP map
 * does not know (a pod not seen yet, or its sidecar logs not collected): when the principal was
 * learned for exactly one workload, that workload is the caller.
 */

export interface Pairing {
  readonly principal: string;
  readonly workloadKey: string;
  readonly namespace: string;
  readonly workload: string;
  firstSeen: number;
  lastSeen: number;
  /** Gateway legs that showed this pairing. */
  count: number;
}

const MAX_PRINCIPALS_PER_WORKLOAD = 3;
/** Sidecar and gateway lines of one connection are a few seconds apart and may arrive reordered. */
const GRACE_MS = 5000;
/** Refresh eviction order at most this often per workload (avoids a Map delete+set per line). */
const TOUCH_MS = 60_000;

export class PrincipalMap {
  private readonly byWorkload = new Map<string, Pairing[]>();
  /** principal -> workload keys it was learned for (usually one). */
  private readonly byPrincipal = new Map<string, Pairing[]>();
  private newest = Number.NEGATIVE_INFINITY;
  /** Pairings learned (new), for metrics and tests. */
  learned = 0;

  constructor(
    private readonly maxWorkloads = 50_000,
    private readonly maxIdleMs = 24 * 3600 * 1000,
    /** The IP's owner must have been seen on a sidecar line within this long of the gateway line. */
    readonly ownerFreshMs = 10 * 60_000,
  ) {}

  get size(): number {
    return this.byWorkload.size;
  }

  /** A gateway leg showed `principal` calling from a pod of `namespace/workload` at `time`. */
  learn(workloadKey: string, namespace: string, workload: string, principal: string, time: number): void {
    if (Number.isNaN(time)) return;
    if (time > this.newest) this.newest = time;
    let list = this.byWorkload.get(workloadKey);
    if (list === undefined) {
      if (this.byWorkload.size >= this.maxWorkloads) this.evictOldest();
      list = [];
      this.byWorkload.set(workloadKey, list);
    }
    for (let i = 0; i < list.length; i++) {
      const p = list[i] as Pairing;
      if (p.principal === principal) {
        p.count++;
        if (time < p.firstSeen) p.firstSeen = time;
        if (time > p.lastSeen) {
          if (time - p.lastSeen > TOUCH_MS) {
            this.byWorkload.delete(workloadKey);
            this.byWorkload.set(workloadKey, list);
          }
          p.lastSeen = time;
        }
        return;
      }
    }
    const pairing: Pairing = {
      principal,
      workloadKey,
      namespace,
      workload,
      firstSeen: time,
      lastSeen: time,
      count: 1,
    };
    this.learned++;
    list.push(pairing);
    if (list.length > MAX_PRINCIPALS_PER_WORKLOAD) {
      // Drop the one seen longest ago.
      let oldest = 0;
      for (let i = 1; i < list.length; i++)
        if ((list[i] as Pairing).lastSeen < (list[oldest] as Pairing).lastSeen) oldest = i;
      this.unindex(list.splice(oldest, 1)[0] as Pairing);
    }
    let rev = this.byPrincipal.get(principal);
    if (rev === undefined) {
      rev = [];
      this.byPrincipal.set(principal, rev);
    }
    rev.push(pairing);
  }

  /** The principal `workloadKey` presents at the gateway at event time `time`, or null. */
  principalOf(workloadKey: string, time: number): string | null {
    const list = this.byWorkload.get(workloadKey);
    if (list === undefined) return null;
    const t = Number.isNaN(time) ? this.newest : time;
    let best: Pairing | null = null;
    const several = list.length > 1;
    for (let i = 0; i < list.length; i++) {
      const p = list[i] as Pairing;
      // Beside another principal, a pairing seen once may be a reused IP's stray: wait for a second.
      if (several && p.count < 2) continue;
      if (p.firstSeen <= t + GRACE_MS && (best === null || p.lastSeen > best.lastSeen)) best = p;
    }
    // Before anything was learned: the workload's earliest principal (service accounts rarely change).
    if (best === null) {
      for (let i = 0; i < list.length; i++) {
        const p = list[i] as Pairing;
        if (best === null || p.firstSeen < best.firstSeen) best = p;
      }
    }
    if (best === null || this.idle(best, t)) return null;
    return best.principal;
  }

  /** The one workload `principal` was learned for (and not idle), or null when none or several. */
  workloadOf(principal: string, time: number): Pairing | null {
    const rev = this.byPrincipal.get(principal);
    if (rev === undefined) return null;
    const t = Number.isNaN(time) ? this.newest : time;
    let found: Pairing | null = null;
    const several = rev.length > 1;
    for (let i = 0; i < rev.length; i++) {
      const p = rev[i] as Pairing;
      if (this.idle(p, t) || (several && p.count < 2)) continue;
      if (found !== null && found.workloadKey !== p.workloadKey) return null;
      found = p;
    }
    return found;
  }

  private idle(p: Pairing, t: number): boolean {
    return this.newest - p.lastSeen > this.maxIdleMs && t - p.lastSeen > this.maxIdleMs;
  }

  private unindex(p: Pairing): void {
    const rev = this.byPrincipal.get(p.principal);
    if (rev === undefined) return;
    const i = rev.indexOf(p);
    if (i >= 0) rev.splice(i, 1);
    if (rev.length === 0) this.byPrincipal.delete(p.principal);
  }

  private evictOldest(): void {
    const first = this.byWorkload.entries().next();
    if (first.done) return;
    this.byWorkload.delete(first.value[0]);
    for (const p of first.value[1]) this.unindex(p);
  }
}
