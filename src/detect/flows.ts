/**
 * Flow summaries and baseline snapshots, on event time. Events are summed per (source identity,
 * destination, path, reporter, minute); a minute is emitted once, when the watermark (the highest
 * event time seen minus the allowed lateness) passes its end, so a document is never rewritten
 * with a partial count. Events for a minute already emitted are summed into a `late` document
 * emitted at the next drain. Every closed minute also updates a running baseline per
 * (source, destination host), and a snapshot of each pair active in the interval is emitted when
 * event time crosses a snapshot boundary. Ids are hashes of the group key and time, so a replay or
 * a redelivery produces the same ids. `observe` is synchronous and allocates only for new groups.
 */
import { createHash } from 'node:crypto';
import type { EgressEvent, EgressPath, Reporter } from '../identity/types.js';
import type { BaselineSnapshot, FlowSummary } from './flow-records.js';

const MINUTE = 60_000;

interface FlowAcc {
  sourceKey: string;
  principal: string | null;
  namespace: string | null;
  workload: string | null;
  host: string | null;
  registeredDomain: string | null;
  port: number;
  external: boolean;
  path: EgressPath;
  reporter: Reporter;
  requests: number;
  connections: number;
  bytesUp: number;
  bytesDown: number;
  errors: number;
  /** For late buckets: origin of the first late event, which makes the late document's id unique and stable. */
  firstOrigin: string;
}

interface PairBaseline {
  sourceKey: string;
  host: string | null;
  registeredDomain: string | null;
  firstSeen: number;
  lastSeen: number;
  activeMinutes: number;
  requests: number;
  bytesUp: number;
  bytesDown: number;
  rateSum: number;
  rateSumSq: number;
}

export interface FlowAggregatorOptions {
  /** How long to wait for out-of-order events before a minute closes. */
  readonly allowedLatenessMs: number;
  /** Event-time period of baseline snapshots (0 disables them). */
  readonly snapshotIntervalMs: number;
  /** Pairs not seen for this long are forgotten. */
  readonly baselineTtlMs: number;
}

export const DEFAULT_FLOW_OPTIONS: FlowAggregatorOptions = {
  allowedLatenessMs: 30_000,
  snapshotIntervalMs: 3_600_000,
  baselineTtlMs: 7 * 86_400_000,
};

function hashId(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 27);
}

function isError(e: EgressEvent): boolean {
  return (
    e.responseCode >= 500 ||
    (e.protocol === 'http' && e.responseCode === 0) ||
    (e.responseFlags !== null && e.responseFlags !== '-')
  );
}

export class FlowAggregator {
  /** Open minutes: minute start -> group key -> sums. */
  private readonly open = new Map<number, Map<string, FlowAcc>>();
  /** Late events for already-closed minutes: `minute|group` -> sums. */
  private late = new Map<string, FlowAcc & { minute: number }>();
  private readonly pairs = new Map<string, PairBaseline>();
  private maxTime = Number.NEGATIVE_INFINITY;
  /** Minutes starting before this are closed and emitted. */
  private closedBefore = Number.NEGATIVE_INFINITY;
  /** Boundary (epoch ms) of the last baseline snapshot; pairs seen since are snapshotted at the next. */
  private lastSnapshotAt = Number.NaN;
  private flowsOut: FlowSummary[] = [];
  private baselinesOut: BaselineSnapshot[] = [];
  lateEvents = 0;

  constructor(private readonly options: FlowAggregatorOptions = DEFAULT_FLOW_OPTIONS) {}

  observe(e: EgressEvent): void {
    if (e.path === 'inbound') return;
    const minute = e.time - (e.time % MINUTE);
    const group = `${e.source.key}|${e.destination.host ?? e.destination.ip ?? '-'}|${e.destination.port}|${e.path}|${e.reporter}`;
    let acc: FlowAcc | undefined;
    if (minute < this.closedBefore) {
      this.lateEvents++;
      const lateKey = `${minute}|${group}`;
      acc = this.late.get(lateKey);
      if (acc === undefined) {
        const created = { ...this.newAcc(e), minute };
        this.late.set(lateKey, created);
        acc = created;
      }
    } else {
      let groups = this.open.get(minute);
      if (groups === undefined) {
        groups = new Map();
        this.open.set(minute, groups);
      }
      acc = groups.get(group);
      if (acc === undefined) {
        acc = this.newAcc(e);
        groups.set(group, acc);
      }
    }
    if (e.protocol === 'http') acc.requests++;
    else acc.connections++;
    acc.bytesUp += e.bytesUp;
    acc.bytesDown += e.bytesDown;
    if (isError(e)) acc.errors++;
    if (e.time > this.maxTime) this.maxTime = e.time;
  }

  private newAcc(e: EgressEvent): FlowAcc {
    return {
      sourceKey: e.source.key,
      principal: e.source.principal,
      namespace: e.source.namespace,
      workload: e.source.workload,
      host: e.destination.host ?? e.destination.ip,
      registeredDomain: e.destination.registeredDomain,
      port: e.destination.port,
      external: e.destination.external,
      path: e.path,
      reporter: e.reporter,
      requests: 0,
      connections: 0,
      bytesUp: 0,
      bytesDown: 0,
      errors: 0,
      firstOrigin: e.origin,
    };
  }

  /** The watermark: minutes ending at or before it are complete. */
  watermark(): number {
    return this.maxTime - this.options.allowedLatenessMs;
  }

  /** Start of the oldest minute not yet emitted (for holding acknowledgements back). */
  openSince(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const m of this.open.keys()) if (m < min) min = m;
    return min;
  }

  /** Closes what the watermark passed (or everything, at the end of input) and returns what to write. */
  drain(final = false): { flows: FlowSummary[]; baselines: BaselineSnapshot[] } {
    for (const acc of this.late.values()) {
      const key = `${acc.minute}|${acc.sourceKey}|${acc.host}|${acc.port}|${acc.path}|${acc.reporter}|late|${acc.firstOrigin}`;
      this.flowsOut.push(this.summary(acc, acc.minute, hashId(key), true));
    }
    this.late = new Map();
    const limit = final ? Number.POSITIVE_INFINITY : this.watermark();
    const minutes = [...this.open.keys()].filter((m) => m + MINUTE <= limit).sort((a, b) => a - b);
    for (const minute of minutes) this.closeMinute(minute);
    this.maybeSnapshot(Math.min(limit, this.openSince()));
    if (final && Number.isFinite(this.maxTime))
      this.closedBefore = Math.max(this.closedBefore, this.maxTime + 1);
    const out = { flows: this.flowsOut, baselines: this.baselinesOut };
    this.flowsOut = [];
    this.baselinesOut = [];
    return out;
  }

  private closeMinute(minute: number): void {
    const interval = this.options.snapshotIntervalMs;
    if (Number.isNaN(this.lastSnapshotAt) && interval > 0) this.lastSnapshotAt = minute - (minute % interval);
    const groups = this.open.get(minute) as Map<string, FlowAcc>;
    this.open.delete(minute);
    this.closedBefore = Math.max(this.closedBefore, minute + MINUTE);
    const perPair = new Map<string, number>();
    for (const [group, acc] of groups) {
      this.flowsOut.push(this.summary(acc, minute, hashId(`${minute}|${group}`), false));
      const pairKey = `${acc.sourceKey}|${acc.host}`;
      const n = acc.requests + acc.connections;
      perPair.set(pairKey, (perPair.get(pairKey) ?? 0) + n);
      let p = this.pairs.get(pairKey);
      if (p === undefined) {
        p = {
          sourceKey: acc.sourceKey,
          host: acc.host,
          registeredDomain: acc.registeredDomain,
          firstSeen: minute,
          lastSeen: minute,
          activeMinutes: 0,
          requests: 0,
          bytesUp: 0,
          bytesDown: 0,
          rateSum: 0,
          rateSumSq: 0,
        };
        this.pairs.set(pairKey, p);
      }
      p.requests += n;
      p.bytesUp += acc.bytesUp;
      p.bytesDown += acc.bytesDown;
      p.lastSeen = minute;
    }
    for (const [pairKey, n] of perPair) {
      const p = this.pairs.get(pairKey) as PairBaseline;
      p.activeMinutes++;
      p.rateSum += n;
      p.rateSumSq += n * n;
    }
  }

  /**
   * Event time is complete up to `completeUpTo` (no open minute before it, watermark past it): when
   * that crosses a snapshot boundary, snapshot every pair seen since the last snapshot, then forget
   * pairs idle past the TTL.
   */
  private maybeSnapshot(completeUpTo: number): void {
    const interval = this.options.snapshotIntervalMs;
    if (interval <= 0 || Number.isNaN(this.lastSnapshotAt) || !Number.isFinite(completeUpTo)) return;
    const boundary = completeUpTo - (completeUpTo % interval);
    if (boundary <= this.lastSnapshotAt) return;
    const since = this.lastSnapshotAt;
    this.lastSnapshotAt = boundary;
    const at = new Date(boundary).toISOString();
    for (const [pairKey, p] of this.pairs) {
      if (p.lastSeen >= since && p.lastSeen < boundary) {
        const mean = p.rateSum / p.activeMinutes;
        const variance = Math.max(0, p.rateSumSq / p.activeMinutes - mean * mean);
        this.baselinesOut.push({
          '@timestamp': at,
          id: hashId(`${boundary}|${pairKey}`),
          source: { key: p.sourceKey },
          destination: { domain: p.host, registered_domain: p.registeredDomain },
          first_seen: new Date(p.firstSeen).toISOString(),
          last_seen: new Date(p.lastSeen).toISOString(),
          active_minutes: p.activeMinutes,
          requests: p.requests,
          bytes_up: p.bytesUp,
          bytes_down: p.bytesDown,
          rate_mean: mean,
          rate_stddev: Math.sqrt(variance),
        });
      }
      if (boundary - p.lastSeen > this.options.baselineTtlMs) this.pairs.delete(pairKey);
    }
  }

  private summary(acc: FlowAcc, minute: number, id: string, late: boolean): FlowSummary {
    return {
      '@timestamp': new Date(minute).toISOString(),
      id,
      late,
      source: {
        key: acc.sourceKey,
        principal: acc.principal,
        namespace: acc.namespace,
        workload: acc.workload,
      },
      destination: {
        domain: acc.host,
        registered_domain: acc.registeredDomain,
        port: acc.port,
        external: acc.external,
      },
      network: { path: acc.path, reporter: acc.reporter },
      requests: acc.requests,
      connections: acc.connections,
      bytes_up: acc.bytesUp,
      bytes_down: acc.bytesDown,
      errors: acc.errors,
    };
  }

  /** Groups held in open minutes (for metrics). */
  openGroups(): number {
    let n = 0;
    for (const g of this.open.values()) n += g.size;
    return n;
  }
}
