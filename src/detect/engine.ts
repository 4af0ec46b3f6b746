/**
 * Runs detectors on event time. Events are copied into a bounded buffer and released in time order
 * once the watermark (max event time seen - allowed lateness) passes them, so detectors see
 * non-decreasing time and a replay of a file gives the same findings as the live stream did.
 *
 * Late events (older than what was already released) are not dropped: a late forbidden connection
 * is still a forbidden connection. They are counted and processed at once with their time clamped to
 * the release point, which keeps the detectors' ordering contract and keeps replays deterministic.
 * When the buffer is full the oldest events are released early (counted as `forcedReleases`).
 */
import { newEgressEvent } from '../identity/normalizer.js';
import type { Destination, EgressEvent, SourceIdentity } from '../identity/types.js';
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
  late: number;
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

/** Copies `e` into `into` field by field (no spread: keeps one hidden class, allocates nothing). */
function copyInto(into: EgressEvent, e: EgressEvent): EgressEvent {
  into.time = e.time;
  into.reporter = e.reporter;
  into.protocol = e.protocol;
  into.path = e.path;
  into.cluster = e.cluster;
  into.bytesUp = e.bytesUp;
  into.bytesDown = e.bytesDown;
  into.durationMs = e.durationMs;
  into.responseCode = e.responseCode;
  into.responseFlags = e.responseFlags;
  into.requestId = e.requestId;
  into.method = e.method;
  into.httpPath = e.httpPath;
  into.origin = e.origin;
  into.upstreamLocalAddress = e.upstreamLocalAddress ?? null;
  into.downstreamRemoteAddress = e.downstreamRemoteAddress ?? null;
  into.sni = e.sni ?? null;
  into.join = null;
  into.ambient = e.ambient ?? null;
  const s: SourceIdentity = into.source;
  const f = e.source;
  s.principal = f.principal;
  s.principalSource = f.principalSource ?? null;
  s.namespace = f.namespace;
  s.workload = f.workload;
  s.pod = f.pod;
  s.ip = f.ip;
  s.attribution = f.attribution;
  s.key = f.key;
  const d: Destination = into.destination;
  const g = e.destination;
  d.host = g.host;
  d.registeredDomain = g.registeredDomain;
  d.ip = g.ip;
  d.port = g.port;
  d.external = g.external;
  into.claim = e.claim ?? null;
  into.extra = e.extra ?? null;
  return into;
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

  /** The current watermark: event time up to which the detectors have seen everything. */
  get watermark(): number {
    return this.detectorsAt;
  }

  get buffered(): number {
    return this.buffer.length - this.head + this.joiner.held;
  }

  /** Takes one event (copied: the caller may reuse it). Synchronous, no I/O. */
  observe(event: EgressEvent): void {
    this.counters.observed++;
    const copy = copyInto(this.pool.pop() ?? newEgressEvent(), event);
    const floor = this.releasedUpTo > this.advancedTo ? this.releasedUpTo : this.advancedTo;
    if (copy.time < floor) {
      this.counters.late++;
      copy.time = floor;
      this.process(copy);
      return;
    }
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
    while (n < buf.length && (buf[n] as EgressEvent).time <= time) {
      this.process(buf[n] as EgressEvent);
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
