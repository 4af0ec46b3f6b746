/**
 * Runs detectors on event time. Events are copied into a bounded buffer and released in time order
 * once the watermark passes them, so detectors see non-decreasing time and a replay of a file gives
 * the same findings as the live stream did. The watermark is the newest event time seen minus the
 * allowed lateness, capped by the caller at the slowest input partition (`advance(upTo)`,
 * watermarks.ts): an event within the allowed lateness of its partition is never late.
 *
 * An event's time is never changed. A late event (older than what was already released: more than
 * the allowed lateness behind, or its partition was idle and left behind) is not analysed:
 * `observe` returns false, it is counted, and the caller dead-letters it with `lateReason` (Flink's
 * late-data side output). Analysing it at its own time would break the detectors' ordering
 * contract; at another time it would stamp alerts and teach baselines the wrong minute. Plain and
 * scaled runs alike. Except one leg of a connection through the egress gateway whose other leg still
 * waits in the connection join (join.ts `pushLate`: Envoy stamps a line with the connection's start
 * but writes it at its end, so legs of long connections come late): it is joined to that leg, which
 * stands for the connection at its own time; counted as `joinedLate`, `observe` returns true. A late
 * event that is not joined is dead-lettered; a leg of that kind stays filed in the join for its
 * tolerance (its other leg may start a few ms after it, on this side of the watermark, and take it
 * up), and detectors that count legs in windows still open see it (`Detector.observeLate`).
 * When the buffer is full the oldest events are released early (counted as `forcedReleases`).
 */
import { copyEgressEvent, newEgressEvent } from '../identity/event.js';
import type { EgressEvent } from '../identity/types.js';
import { ConnectionJoiner } from './join.js';
import type { KeyTable } from './state/key-table.js';
import type { DetectionState } from './state/store.js';
import type { Detector, Emit, Finding } from './types.js';

export interface EngineOptions {
  latenessMs: number;
  maxBufferedEvents: number;
  /** Longest wait (event time) for the other leg of a connection through the egress gateway (detect/join.ts). */
  joinToleranceMs?: number;
}

export interface EngineCounters {
  observed: number;
  released: number;
  /** Late events not analysed (the caller dead-letters them). */
  late: number;
  /** Late legs joined to their connection's other leg, still waiting in the join (not dead-lettered). */
  joinedLate: number;
  forcedReleases: number;
  maxBuffered: number;
}

/** Detectors are advanced at least once per this much event time while events are released. */
const TICK_MS = 1000;
/** Released event copies kept for reuse. */
const POOL_MAX = 8192;

function byTime(a: EgressEvent, b: EgressEvent): number {
  return a.time - b.time;
}

function cmp(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

/**
 * Events of the same millisecond reach the detectors in content order, whatever order the input
 * partitions delivered them in (a replay reads them in file order), so a standing alert's update
 * carries the same event in `run` and `replay`. Not the origin: it differs between the two.
 */
function byContent(a: EgressEvent, b: EgressEvent): number {
  return (
    cmp(a.source.key, b.source.key) ||
    cmp(a.reporter, b.reporter) ||
    cmp(a.destination.host, b.destination.host) ||
    cmp(a.destination.ip, b.destination.ip) ||
    a.destination.port - b.destination.port ||
    cmp(a.source.principal, b.source.principal) ||
    cmp(a.source.pod, b.source.pod) ||
    cmp(a.source.ip, b.source.ip) ||
    cmp(a.path, b.path) ||
    cmp(a.cluster, b.cluster) ||
    cmp(a.requestId, b.requestId) ||
    a.bytesUp - b.bytesUp ||
    a.bytesDown - b.bytesDown ||
    a.durationMs - b.durationMs ||
    a.responseCode - b.responseCode ||
    cmp(a.responseFlags, b.responseFlags) ||
    cmp(a.method, b.method) ||
    cmp(a.httpPath, b.httpPath)
  );
}

const STATE_SOURCE = {
  principal: null,
  namespace: null,
  workload: 'egress-sentinel',
  pod: null,
  ip: null,
  attribution: 'unknown' as const,
  key: 'egress-sentinel',
};

export class DetectionEngine {
  readonly counters: EngineCounters = {
    observed: 0,
    released: 0,
    late: 0,
    joinedLate: 0,
    forcedReleases: 0,
    maxBuffered: 0,
  };
  /** Held events; `buffer[head..]` are pending (the released prefix is dropped lazily). */
  private buffer: EgressEvent[] = [];
  private head = 0;
  /** Released copies, refilled by `observe` instead of allocating three objects per event. */
  private readonly pool: EgressEvent[] = [];
  private sorted = true;
  private maxTime = Number.NEGATIVE_INFINITY;
  /** Time of the last released event: nothing older may reach the detectors any more. */
  private releasedUpTo = Number.NEGATIVE_INFINITY;
  private advancedTo = Number.NEGATIVE_INFINITY;
  /** Event time the detectors were advanced to (behind `advancedTo` while the join holds legs). */
  private detectorsAt = Number.NEGATIVE_INFINITY;
  private readonly tables: KeyTable<unknown>[] = [];
  /** Pairs each sidecar leg to the gateway with the gateway's leg before detectors see either. */
  readonly joiner: ConnectionJoiner;
  /**
   * Sees each event as it is released, in event-time order, before the detectors (the processor
   * fills in what identity learned from other lines: see pipeline/detection.ts).
   */
  onRelease: ((event: EgressEvent) => void) | null = null;

  constructor(
    private readonly options: EngineOptions,
    readonly state: DetectionState,
    readonly detectors: readonly Detector[],
    private readonly emit: Emit,
  ) {
    this.tables.push(state.hosts as KeyTable<unknown>, state.domains as KeyTable<unknown>);
    this.joiner = new ConnectionJoiner({ toleranceMs: options.joinToleranceMs ?? 10_000 }, (e) =>
      this.deliver(e),
    );
  }

  /** Tables whose evictions should be reported as `state-eviction` findings. */
  trackTable(table: KeyTable<unknown>): void {
    this.tables.push(table);
  }

  /** Every per-key state table (the baselines' and the detectors'), for their metrics. */
  get keyTables(): readonly KeyTable<unknown>[] {
    return this.tables;
  }

  /** The current watermark: event time up to which the detectors have seen everything. */
  get watermark(): number {
    return this.detectorsAt;
  }

  get buffered(): number {
    return this.buffer.length - this.head + this.joiner.held;
  }

  /** Event time before which an event is late (what the detectors already saw). */
  get releasedTo(): number {
    return this.releasedUpTo > this.advancedTo ? this.releasedUpTo : this.advancedTo;
  }

  /** Why an event at `time` was late, for its dead letter. */
  lateReason(time: number): string {
    const floor = this.releasedTo;
    return `late event: its time ${iso(time)} is ${((floor - time) / 1000).toFixed(3)} s behind the watermark ${iso(floor)} (allowed lateness ${this.options.latenessMs / 1000} s); not analysed`;
  }

  /**
   * Takes one event (copied: the caller may reuse it). Synchronous, no I/O. False: the event is
   * late (see `lateReason`), counted and not analysed.
   */
  observe(event: EgressEvent): boolean {
    this.counters.observed++;
    if (event.time < this.releasedTo) return this.observeLate(event);
    const copy = copyEgressEvent(this.pool.pop() ?? newEgressEvent(), event);
    const buf = this.buffer;
    if (buf.length > this.head && (buf[buf.length - 1] as EgressEvent).time > copy.time) this.sorted = false;
    buf.push(copy);
    if (copy.time > this.maxTime) this.maxTime = copy.time;
    const held = buf.length - this.head;
    if (held > this.counters.maxBuffered) this.counters.maxBuffered = held;
    if (held > this.options.maxBufferedEvents) {
      this.counters.forcedReleases++;
      this.sortBuffer();
      const cut = (buf[this.head + Math.floor(held / 2)] as EgressEvent).time;
      this.releaseUpTo(cut);
    }
    return true;
  }

  /**
   * A late event: joined to its connection's other leg when that still waits (true), else counted
   * late and shown to the detectors' `observeLate` (false: the caller dead-letters it).
   */
  private observeLate(event: EgressEvent): boolean {
    const copy = copyEgressEvent(this.pool.pop() ?? newEgressEvent(), event);
    // What identity learned, as a released event gets it (the join reads the principal).
    this.onRelease?.(copy);
    // Not recycled: the join may hold it (filed for a partner not released yet); rare.
    if (this.joiner.pushLate(copy)) {
      this.counters.joinedLate++;
      return true;
    }
    this.counters.late++;
    for (const detector of this.detectors) detector.observeLate?.(copy);
    return false;
  }

  /**
   * Called once per input batch: releases what the watermark passed and advances detectors.
   * `upTo` caps the watermark (a caller that merges several ordered streams holds it at the slowest).
   */
  advance(upTo = Number.POSITIVE_INFINITY): void {
    const own = this.maxTime - this.options.latenessMs;
    const watermark = upTo < own ? upTo : own;
    if (watermark <= this.advancedTo) return;
    this.releaseUpTo(watermark);
    this.advanceDetectors(watermark);
  }

  /** End of input: releases everything and advances detectors to the last event time. */
  flush(): void {
    if (this.buffer.length > this.head) this.releaseUpTo(this.maxTime);
    this.joiner.flush();
    const to = this.maxTime > this.advancedTo ? this.maxTime : this.advancedTo;
    if (to > Number.NEGATIVE_INFINITY) {
      this.advancedTo = to;
      this.advanceDetectorsTo(to);
    }
  }

  private sortBuffer(): void {
    if (!this.sorted) {
      if (this.head > 0) this.compact();
      this.buffer.sort(byTime);
      this.sorted = true;
    }
  }

  private compact(): void {
    this.buffer.copyWithin(0, this.head);
    this.buffer.length -= this.head;
    this.head = 0;
  }

  private releaseUpTo(time: number): void {
    this.sortBuffer();
    const buf = this.buffer;
    let n = this.head;
    let tiesTo = n;
    while (n < buf.length && (buf[n] as EgressEvent).time <= time) {
      // A run of equal times (never split: releases go up to a time) is put in content order first.
      const next = buf[n + 1];
      if (n >= tiesTo && next !== undefined && next.time === (buf[n] as EgressEvent).time)
        tiesTo = orderTies(buf, n);
      const e = buf[n] as EgressEvent;
      this.process(e);
      n++;
    }
    if (n === buf.length) {
      buf.length = 0;
      this.head = 0;
    } else {
      this.head = n;
      // Drop the released prefix once it is most of the array (amortised O(1) per event).
      if (n > 4096 && n * 2 > buf.length) this.compact();
    }
  }

  private recycle(e: EgressEvent): void {
    if (this.pool.length < POOL_MAX) this.pool.push(e);
  }

  /** Released in time order: to the connection join, which hands it on to `deliver`. */
  private process(event: EgressEvent): void {
    this.counters.released++;
    if (event.time > this.releasedUpTo) this.releasedUpTo = event.time;
    // Identity learned from other lines, filled in before the join (a principal the gateway
    // logged then still wins over a learned one).
    this.onRelease?.(event);
    this.joiner.push(event);
  }

  /** An event whose join is settled, in time order: to the state and the detectors, then back to the pool. */
  private deliver(event: EgressEvent): void {
    // Advance detectors as event time passes, not only per input batch, so time-based findings fire
    // at the same event time whatever the batching (live stream and replay agree).
    if (event.time - 1 >= this.detectorsAt + TICK_MS) this.advanceDetectorsTo(event.time - 1);
    this.state.observe(event);
    for (const detector of this.detectors) detector.observe(event, this.emit);
    this.recycle(event);
  }

  private advanceDetectors(watermark: number): void {
    this.advancedTo = watermark;
    this.joiner.advance(watermark);
    // Not past a leg still waiting for its partner: it is delivered at its own time.
    const held = this.joiner.oldestHeld;
    this.advanceDetectorsTo(held < watermark ? held : watermark);
  }

  private advanceDetectorsTo(watermark: number): void {
    if (watermark <= this.detectorsAt) return;
    this.detectorsAt = watermark;
    for (const detector of this.detectors) detector.advance(watermark, this.emit);
    for (const table of this.tables) {
      const { count, example } = table.takeEvictions();
      if (count > 0) this.emit(evictionFinding(table, count, example, watermark));
    }
  }
}

/**
 * Sorts the run of events with `buf[from]`'s time by content, in place (rare: equal milliseconds);
 * returns where the run ends.
 */
function orderTies(buf: EgressEvent[], from: number): number {
  const t = (buf[from] as EgressEvent).time;
  let end = from + 1;
  let sorted = true;
  while (end < buf.length && (buf[end] as EgressEvent).time === t) {
    if (sorted && byContent(buf[end - 1] as EgressEvent, buf[end] as EgressEvent) > 0) sorted = false;
    end++;
  }
  if (sorted) return end;
  const run = buf.slice(from, end).sort(byContent);
  for (let i = 0; i < run.length; i++) buf[from + i] = run[i] as EgressEvent;
  return end;
}

function iso(time: number): string {
  return Number.isFinite(time) ? new Date(time).toISOString() : String(time);
}

function evictionFinding(
  table: KeyTable<unknown>,
  count: number,
  example: string | null,
  time: number,
): Finding {
  return {
    ruleId: 'state-eviction',
    severity: 'medium',
    time,
    dedupKey: `state-eviction/${table.name}`,
    reason: `State for ${table.name} is at its cap of ${table.maxKeys} keys: evicted ${count} least-recently-seen keys, whose baselines restart learning.`,
    source: { ...STATE_SOURCE },
    destination: null,
    path: null,
    protocol: null,
    evidence: {
      table: table.name,
      evicted: count,
      evictedTotal: table.evictedTotal,
      maxKeys: table.maxKeys,
      exampleKey: example?.replace('\u0001', ' -> ') ?? null,
    },
  };
}
