/**
 * Stage 1 of a scaled pipeline: raw lines -> LineDecoder -> Normalizer -> one message per egress
 * event on the by-source topic, keyed by source identity key. Kafka's default partitioner
 * (murmur2 of the key, as in the Java client) then sends every event of one identity to one
 * partition, whatever node's shipper read it, which is what lets stage 2 keep that identity's
 * baselines in one place. Synchronous, like the processor it stands in front of.
 *
 * Partition key (`scale.partitionBy`): by default the source's namespace, not its identity key.
 * Gateway-silence pairs a sidecar's leg (sidecar -> egress gateway, keyed namespace/workload from
 * the shipper's metadata) with the gateway's leg of the same connection, whose caller is only a
 * SPIFFE principal (`spiffe://<td>/ns/<namespace>/sa/<sa>`) and a pod IP. Which workload uses which
 * service account is learned (identity/principal-map.ts), and a stage-1 instance may not have
 * learned it yet (cold start, or the sidecar's lines are read by another instance): keyed by
 * identity, the two legs then land on different partitions. The namespace is on both legs from
 * the first line (metadata; the principal), so keyed by namespace they always share a partition,
 * and every identity of a namespace (its baselines) still lives on exactly one partition. The cost
 * is coarser load spreading: one namespace's traffic is one partition's. `identity` keeps the old
 * key (namespace/workload, else principal) for meshes with one huge namespace, and then relies on
 * the learned pairings alone.
 */
import type { Message } from 'kafkajs';
import { Normalizer, type NormalizerConfig } from '../identity/normalizer.js';
import type { EgressEvent } from '../identity/types.js';
import { type DecoderOptions, LineDecoder } from '../parse/decoder.js';
import type { DecodeSink } from '../parse/decoder-types.js';
import type { AccessRecord, LineOrigin, ShipperMeta } from '../parse/types.js';
import { encodeEvent } from './event-codec.js';

export interface RekeyDeadLetter {
  origin: string;
  reason: string;
  raw: string;
}

/** Per event-time window: sidecar legs sent to the egress gateway and legs the gateway logged. */
export interface GatewayLegCounts {
  sidecarToGateway: number;
  gateway: number;
}

/** What the partition key of the by-source topic is made of (see the file comment). */
export type PartitionBy = 'namespace' | 'identity';

/** What stage 1 tells the mesh-wide gateway-silence evaluator (gateway-heartbeat.ts). */
export interface GatewayTally {
  counts: Map<number, GatewayLegCounts>;
  /**
   * Event time this instance has read up to: the lowest of the newest event times of the input
   * partitions that delivered lines in the last `STREAM_IDLE_MS` (one partition's batch can run
   * minutes of event time ahead of another's while a backlog drains); during the first
   * `STREAM_IDLE_MS` after the first line, while its partitions show where they are, the oldest event
   * time read; when none delivered lately, the newest of all. Null before the first line.
   */
  maxTime: number | null;
  /** No line was decoded since the previous tally. */
  idle: boolean;
}

/** The by-source message key of an event: its namespace when known, else its identity key. */
export function partitionKeyOf(event: EgressEvent, by: PartitionBy): string {
  return by === 'namespace' ? (event.source.namespace ?? event.source.key) : event.source.key;
}

/** An input partition that delivered nothing for this long (wall time) no longer holds event time back. */
export const STREAM_IDLE_MS = 10_000;

export interface RekeyedBatch {
  messages: Message[];
  lines: number;
  events: number;
  notEgress: number;
  skipped: Map<string, number>;
  deadLetters: RekeyDeadLetter[];
}

export class Rekeyer implements DecodeSink {
  private readonly decoder: LineDecoder;
  private readonly normalizer: Normalizer;
  private readonly origin: LineOrigin = { source: '', position: '' };
  private out: RekeyedBatch = emptyBatch();
  /** Gateway-route leg counts per window start, since the last `takeGatewayCounts()`. */
  private gatewayCounts = new Map<number, GatewayLegCounts>();
  private maxTime = Number.NEGATIVE_INFINITY;
  private minTime = Number.POSITIVE_INFINITY;
  private batchMax = Number.NEGATIVE_INFINITY;
  private batchMin = Number.POSITIVE_INFINITY;
  /** Newest event time per input partition (`source/partition`) and when (wall) it last delivered. */
  private readonly streams = new Map<string, { max: number; seenAt: number }>();
  private firstLineAt: number | null = null;
  /** The input partition of the last `rekey` batch and the newest event time read from it, if any. */
  progress: { stream: string; time: number } | null = null;
  private linesSinceTally = false;
  /** The line being decoded (a dead letter found after decoding still carries its bytes). */
  private line = '';

  constructor(
    decoder: DecoderOptions,
    mesh: NormalizerConfig,
    private readonly gatewayWindowMs = 60_000,
    private readonly partitionBy: PartitionBy = 'namespace',
    private readonly clock: () => number = Date.now,
  ) {
    this.decoder = new LineDecoder(decoder);
    this.normalizer = new Normalizer(mesh);
  }

  rekey(lines: readonly string[], source: string, position: (i: number) => string): RekeyedBatch {
    this.out = emptyBatch();
    this.origin.source = source;
    this.batchMax = Number.NEGATIVE_INFINITY;
    this.batchMin = Number.POSITIVE_INFINITY;
    for (let i = 0; i < lines.length; i++) {
      this.out.lines++;
      this.origin.position = position(i);
      this.line = lines[i] as string;
      this.decoder.decode(this.line, this);
    }
    this.progress = null;
    if (lines.length === 0) return this.out;
    // A batch is one input partition's; its positions are `partition/offset`.
    const first = position(0);
    const slash = first.indexOf('/');
    const stream = `${source}/${slash < 0 ? '' : first.slice(0, slash)}`;
    let st = this.streams.get(stream);
    if (this.batchMax !== Number.NEGATIVE_INFINITY) {
      const now = this.clock();
      if (st === undefined) {
        st = { max: this.batchMax, seenAt: now };
        this.streams.set(stream, st);
      } else {
        if (this.batchMax > st.max) st.max = this.batchMax;
        st.seenAt = now;
      }
      this.firstLineAt ??= now;
      this.linesSinceTally = true;
      if (this.batchMax > this.maxTime) this.maxTime = this.batchMax;
      if (this.batchMin < this.minTime) this.minTime = this.batchMin;
    }
    if (st !== undefined) this.progress = { stream, time: st.max };
    return this.out;
  }

  access(record: AccessRecord, meta: ShipperMeta): void {
    const event = this.normalizer.normalize(record, meta, this.origin);
    if (Number.isNaN(event.time)) {
      this.malformed('no start time and no shipper timestamp', this.line);
      return;
    }
    if (event.time > this.batchMax) this.batchMax = event.time;
    if (event.time < this.batchMin) this.batchMin = event.time;
    if (event.path === 'inbound' || event.path === 'internal') {
      this.out.notEgress++;
      return;
    }
    this.countGatewayLeg(event);
    this.out.events++;
    this.out.messages.push({ key: partitionKeyOf(event, this.partitionBy), value: encodeEvent(event) });
  }

  skipped(reason: string): void {
    this.out.skipped.set(reason, (this.out.skipped.get(reason) ?? 0) + 1);
  }

  malformed(reason: string, raw: string): void {
    this.out.deadLetters.push({ origin: `${this.origin.source}:${this.origin.position}`, reason, raw });
  }

  private countGatewayLeg(event: EgressEvent): void {
    const sidecar = event.path === 'sidecar-to-gateway';
    const gateway = event.path === 'gateway-to-external' && event.reporter === 'egress-gateway';
    if (!sidecar && !gateway) return;
    const w = event.time - (event.time % this.gatewayWindowMs);
    let c = this.gatewayCounts.get(w);
    if (c === undefined) {
      c = { sidecarToGateway: 0, gateway: 0 };
      this.gatewayCounts.set(w, c);
    }
    if (sidecar) c.sidecarToGateway++;
    else c.gateway++;
  }

  /** Leg counts per window since the last call (published on the heartbeat topic). */
  takeGatewayCounts(): Map<number, GatewayLegCounts> {
    const out = this.gatewayCounts;
    this.gatewayCounts = new Map();
    return out;
  }

  /** Leg counts since the last tally, the newest event time and whether any line came in. */
  takeGatewayTally(): GatewayTally {
    const idle = !this.linesSinceTally;
    this.linesSinceTally = false;
    const counts = this.takeGatewayCounts();
    if (this.firstLineAt === null) return { counts, maxTime: null, idle };
    const now = this.clock();
    if (now - this.firstLineAt < STREAM_IDLE_MS) return { counts, maxTime: this.minTime, idle };
    let low = Number.POSITIVE_INFINITY;
    for (const [stream, st] of this.streams) {
      if (now - st.seenAt <= STREAM_IDLE_MS) low = Math.min(low, st.max);
      else if (now - st.seenAt > 100 * STREAM_IDLE_MS) this.streams.delete(stream);
    }
    return { counts, maxTime: low === Number.POSITIVE_INFINITY ? this.maxTime : low, idle };
  }
}

function emptyBatch(): RekeyedBatch {
  return { messages: [], lines: 0, events: 0, notEgress: 0, skipped: new Map(), deadLetters: [] };
}
