/**
 * Pod IP -> workload, learned from sidecar lines (whose shipper metadata names the pod) and used to
 * attribute egress-gateway lines, where the caller is only an IP. Pod IPs are reused after restarts,
 * so each IP keeps its last few owners with the event time each was first and last seen; a lookup at
 * time t picks the newest owner first seen at or before t (plus a small grace for reordering). Size
 * is bounded (oldest-touched IP evicted first) and owners idle for `maxIdleMs` are forgotten.
 */

export interface PodOwner {
  readonly namespace: string;
  readonly workload: string;
  readonly pod: string | null;
  firstSeen: number;
  lastSeen: number;
}

const MAX_OWNERS_PER_IP = 4;
/** Gateway lines start a little after the sidecar line of the same connection; allow reordering. */
const GRACE_MS = 5000;
/** Refresh an IP's eviction order at most this often (avoids a Map delete+set per line). */
const TOUCH_MS = 60000;

export class WorkloadMap {
  private readonly byIp = new Map<string, PodOwner[]>();
  private newest = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly maxEntries = 100000,
    private readonly maxIdleMs = 6 * 3600 * 1000,
  ) {}

  get size(): number {
    return this.byIp.size;
  }

  observe(ip: string, namespace: string, workload: string, pod: string | null, time: number): void {
    if (Number.isNaN(time)) return;
    if (time > this.newest) this.newest = time;
    const owners = this.byIp.get(ip);
    if (owners === undefined) {
      if (this.byIp.size >= this.maxEntries) this.evictOldest();
      this.byIp.set(ip, [{ namespace, workload, pod, firstSeen: time, lastSeen: time }]);
      return;
    }
    for (let i = 0; i < owners.length; i++) {
      const o = owners[i] as PodOwner;
      if (o.workload === workload && o.namespace === namespace && o.pod === pod) {
        if (time < o.firstSeen) o.firstSeen = time;
        if (time > o.lastSeen) {
          if (time - o.lastSeen > TOUCH_MS) {
            this.byIp.delete(ip);
            this.byIp.set(ip, owners);
          }
          o.lastSeen = time;
        }
        return;
      }
    }
    owners.push({ namespace, workload, pod, firstSeen: time, lastSeen: time });
    owners.sort((a, b) => a.firstSeen - b.firstSeen);
    if (owners.length > MAX_OWNERS_PER_IP) owners.shift();
  }

  /** The owner of `ip` at event time `time`, or null. */
  lookup(ip: string, time: number): PodOwner | null {
    const owners = this.byIp.get(ip);
    if (owners === undefined) return null;
    const t = Number.isNaN(time) ? this.newest : time;
    let best: PodOwner | null = null;
    for (let i = 0; i < owners.length; i++) {
      const o = owners[i] as PodOwner;
      if (o.firstSeen <= t + GRACE_MS) best = o;
    }
    // Before every known owner: the earliest one is the best guess (we saw it only later).
    best ??= owners[0] as PodOwner;
    if (this.newest - best.lastSeen > this.maxIdleMs && t - best.lastSeen > this.maxIdleMs) return null;
    return best;
  }

  private evictOldest(): void {
    const first = this.byIp.keys().next();
    if (!first.done) this.byIp.delete(first.value);
  }
}
