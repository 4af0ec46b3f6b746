/**
 * The Ingest stage: raw lines -> decoder -> normaliser -> egress filter -> `onEvent`. Synchronous,
 * no I/O, no state beyond what identity learns from the lines (pod IPs, principals, gateways).
 * Lines that are not access logs are counted by reason; lines that should have been and could not
 * be read are dead letters with their bytes. `replay`, `run` and the scaled run's stage 1
 * (scale/rekey.ts) read through it, so they count and dead-letter the same lines the same way.
 */
import { type DeadLetter, lineOrigin } from '../dead-letter.js';
import { isOuterHopLeg } from '../detect/join.js';
import type { GatewaySeen } from '../identity/gateway-evidence.js';
import { Normalizer, type NormalizerConfig } from '../identity/normalizer.js';
import type { PrincipalMap } from '../identity/principal-map.js';
import type { EgressEvent } from '../identity/types.js';
import type { Telemetry } from '../observability/telemetry.js';
import { type DecoderOptions, LineDecoder } from '../parse/decoder.js';
import type { DecodeSink } from '../parse/decoder-types.js';
import { iso, span } from '../parse/ingest-guard.js';
import { HELD, TimeJumpGuard } from '../parse/time-jump.js';
import type { AccessRecord, LineOrigin, ShipperMeta } from '../parse/types.js';
import type { LineBatch } from '../sources/types.js';

export interface IngestOptions {
  decoder: DecoderOptions;
  mesh: NormalizerConfig;
  /** Dead letters kept per `read`; beyond it they are only counted (a flood of garbage stays bounded). */
  maxDeadLetters?: number;
}

/** Counters of lines read; the same for one batch (`IngestStats`) and for the whole run (`Ingest.totals`). */
export interface IngestCounts {
  lines: number;
  accessLines: number;
  /** Egress events handed on (inbound and in-mesh calls are not). */
  events: number;
  /** Access lines of inbound or in-mesh calls: read, not egress. */
  notEgress: number;
  /** Lines that are not access logs (Envoy / pilot-agent messages), by reason. */
  skipped: Map<string, number>;
  /** Lines that should have been access logs but could not be read (each one a dead letter). */
  malformed: number;
  /** Dead letters kept (malformed lines beyond `maxDeadLetters` per read are counted only). */
  deadLettered: number;
}

/** What one `read` found. */
export interface IngestStats extends IngestCounts {
  readonly deadLetters: DeadLetter[];
  /** Newest event time of an access line in the batch (-Infinity: none): its input partition's progress. */
  maxTime: number;
  /** Oldest event time of an access line in the batch (+Infinity: none). */
  minTime: number;
}

/** Sees each egress event and the line it came from; must not keep the event (it is reused). */
export type EventHandler = (event: EgressEvent, raw: string) => void;

export function emptyCounts(): IngestCounts {
  return {
    lines: 0,
    accessLines: 0,
    events: 0,
    notEgress: 0,
    skipped: new Map(),
    malformed: 0,
    deadLettered: 0,
  };
}

export class Ingest {
  /** Everything read so far. */
  readonly totals: IngestCounts = emptyCounts();
  private readonly decoder: LineDecoder;
  private readonly normalizer: Normalizer;
  private readonly maxDeadLetters: number;
  /** What the decoder reports to: bound to the batch in progress (one object, nothing allocated per line). */
  private readonly sink: LineSink;

  constructor(options: IngestOptions) {
    this.decoder = new LineDecoder(options.decoder);
    this.normalizer = new Normalizer(options.mesh);
    this.maxDeadLetters = options.maxDeadLetters ?? 10_000;
    const jump = options.decoder.maxTimeJumpMs;
    this.sink = new LineSink(
      this.normalizer,
      this.maxDeadLetters,
      jump === undefined || jump <= 0 ? null : new TimeJumpGuard<HeldLine>(jump),
    );
  }

  /** Principals learned from the gateways' lines (Detection fills sidecar events in from them). */
  get principals(): PrincipalMap {
    return this.normalizer.principals;
  }

  /** Egress gateways found in the lines so far. */
  gateways(): readonly GatewaySeen[] {
    return this.normalizer.gateways();
  }

  /** Decodes and normalises every line of `batch`, handing each egress event to `onEvent`. */
  read(
    batch: Pick<LineBatch, 'lines' | 'source' | 'position' | 'stream'>,
    onEvent: EventHandler,
  ): IngestStats {
    const stats = emptyStats();
    const sink = this.sink;
    // Files and stdin only: a Kafka partition's bare lines are bounded by the wall clock (they are
    // live), and a line held there would wait for its partition while the others move event time.
    sink.begin(stats, batch.source, batch.stream === undefined ? batch.source : null, onEvent);
    const lines = batch.lines;
    for (let i = 0; i < lines.length; i++) {
      sink.line = lines[i] as string;
      sink.origin.position = batch.position(i);
      this.decoder.decode(sink.line, sink);
    }
    sink.end();
    stats.lines = lines.length;
    addCounts(this.totals, stats);
    return stats;
  }

  /**
   * The inputs ended: hands on the bare lines still held for being far ahead of their input's clock
   * (nothing came after them to contradict them, see parse/time-jump.ts). Their events count here.
   */
  endOfInput(onEvent: EventHandler): IngestStats {
    const stats = emptyStats();
    this.sink.begin(stats, '', '', onEvent);
    this.sink.releaseHeld();
    this.sink.end();
    addCounts(this.totals, stats);
    return stats;
  }
}

/** A bare line held by the TimeJumpGuard: its event (a copy: the normaliser reuses its own) and bytes. */
interface HeldLine {
  event: EgressEvent;
  raw: string;
}

function emptyStats(): IngestStats {
  return {
    ...emptyCounts(),
    deadLetters: [],
    maxTime: Number.NEGATIVE_INFINITY,
    minTime: Number.POSITIVE_INFINITY,
  };
}

/** Counts one read for its source and for Ingest (`discarded`: not an access log, or not egress). */
export function countRead(telemetry: Telemetry, source: string, s: IngestStats): void {
  const src = telemetry.of('source', source);
  src.received += s.lines;
  src.sent += s.lines;
  const c = telemetry.of('ingest');
  c.received += s.lines;
  c.sent += s.events;
  c.errors += s.malformed;
  c.deadLetters += s.deadLettered;
  let skipped = 0;
  for (const n of s.skipped.values()) skipped += n;
  c.discarded += skipped + s.notEgress;
}

/** Adds `b`'s counts to `a`. */
export function addCounts(a: IngestCounts, b: IngestCounts): void {
  a.lines += b.lines;
  a.accessLines += b.accessLines;
  a.events += b.events;
  a.notEgress += b.notEgress;
  a.malformed += b.malformed;
  a.deadLettered += b.deadLettered;
  for (const [reason, n] of b.skipped) a.skipped.set(reason, (a.skipped.get(reason) ?? 0) + n);
}

class LineSink implements DecodeSink {
  readonly origin: LineOrigin = { source: '', position: '' };
  /** The line being decoded. */
  line = '';
  private stats: IngestStats | null = null;
  private onEvent: EventHandler = () => {};
  /** The input (a file, stdin) of the batch: bare lines are held per input's clock; null: not held. */
  private input: string | null = '';

  constructor(
    private readonly normalizer: Normalizer,
    private readonly maxDeadLetters: number,
    private readonly jumps: TimeJumpGuard<HeldLine> | null,
  ) {}

  begin(stats: IngestStats, source: string, input: string | null, onEvent: EventHandler): void {
    this.stats = stats;
    this.origin.source = source;
    this.input = input;
    this.onEvent = onEvent;
  }

  end(): void {
    this.stats = null;
    this.line = '';
    this.onEvent = () => {};
  }

  access(record: AccessRecord, meta: ShipperMeta): void {
    const stats = this.stats as IngestStats;
    stats.accessLines++;
    const event = this.normalizer.normalize(record, meta, this.origin);
    if (Number.isNaN(event.time)) {
      this.malformed('no start time and no shipper timestamp', this.line);
      return;
    }
    const jumps = this.input === null ? null : this.jumps;
    const input = this.input as string;
    if (jumps?.mustOffer(input, event.time)) {
      // Only bare lines are held: a shipper's timestamp already vouched for an enveloped one.
      if (!Number.isNaN(meta.shippedAt)) jumps.vouched(input, event.time);
      else {
        const verdict = jumps.offer(input, event.time, () => ({
          event: structuredClone(event),
          raw: this.line,
        }));
        this.settle();
        if (verdict === HELD) return;
      }
    }
    this.pass(event, this.line);
  }

  /** Hands on an egress event (an access line of an inbound or in-mesh call is counted only). */
  private pass(event: EgressEvent, raw: string): void {
    const stats = this.stats as IngestStats;
    if (event.time > stats.maxTime) stats.maxTime = event.time;
    if (event.time < stats.minTime) stats.minTime = event.time;
    // A gateway's outer leg into its internal listener is not egress itself, but joins the two legs
    // that are (detect/join.ts).
    if ((event.path === 'inbound' || event.path === 'internal') && !isOuterHopLeg(event)) {
      stats.notEgress++;
      return;
    }
    stats.events++;
    this.onEvent(event, raw);
  }

  /** Hands on the held lines their input confirmed, dead-letters those it contradicted. */
  private settle(): void {
    const jumps = this.jumps as TimeJumpGuard<HeldLine>;
    for (const h of jumps.takeReleased()) this.pass(h.item.event, h.item.raw);
    for (const { held, newest } of jumps.takeRefuted())
      for (const h of held) {
        // Counted as unreadable, as the guard's other future-dated lines are, not as read.
        (this.stats as IngestStats).accessLines--;
        this.deadLetter(
          `START_TIME ${iso(h.time)} is ${span(h.time - newest)} ahead of the lines of its input around it (newest ${iso(newest)}), and the lines after it went on from there (more than parse.maxTimeJump)`,
          h.item.raw,
          h.item.event.origin,
        );
      }
  }

  /** See Ingest.endOfInput. */
  releaseHeld(): void {
    if (this.jumps === null) return;
    this.jumps.flush();
    this.settle();
  }

  skipped(reason: string): void {
    const skipped = (this.stats as IngestStats).skipped;
    skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
  }

  malformed(reason: string, raw: string): void {
    this.deadLetter(reason, raw, lineOrigin(this.origin.source, this.origin.position));
  }

  private deadLetter(reason: string, raw: string, origin: string): void {
    const stats = this.stats as IngestStats;
    stats.malformed++;
    if (stats.deadLetters.length >= this.maxDeadLetters) return;
    stats.deadLettered++;
    stats.deadLetters.push({ component: 'parse', reason, origin, raw });
  }
}
