/**
 * Stage 1 of a scaled pipeline: raw lines -> LineDecoder -> Normalizer -> one message per egress
 * event on the by-source topic, keyed by source identity key. Kafka's default partitioner
 * (murmur2 of the key, as in the Java client) then sends every event of one identity to one
 * partition, whatever node's shipper read it, which is what lets stage 2 keep that identity's
 * baselines in one place. Lines are read by the Ingest stage, as in a plain run (the same counts and
 * dead letters); synchronous, like the Detection stage it stands in front of.
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
 *
 * A gateway that forwards by SNI through an internal listener logs an inner leg that names no
 * caller: stage 1 pairs it with the gateway's outer leg and sends it keyed as that (hop-pairing.ts),
 * holding it briefly when it comes first; `held` and `gates` tell the caller when a batch may be acked.
 */
import type { Message } from 'kafkajs';
import { HOP_START_MS, isGatewayLeg, isInnerHopLeg, isOuterHopLeg, isSidecarLeg } from '../detect/join.js';
import type { NormalizerConfig } from '../identity/normalizer.js';
import type { EgressEvent } from '../identity/types.js';
import type { DecoderOptions } from '../parse/decoder.js';
import { Ingest, type IngestStats } from '../pipeline/ingest.js';
import { encodeEvent } from './event-codec.js';
import { type HoldGate, HopPairer, type Released } from './hop-pairing.js';

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

/** A held inner leg (hop-pairing.ts) whose input partition delivered nothing this long (wall) goes on unpaired. */
export const HOLD_IDLE_MS = 1000;
/** Most inner legs held for their outer leg at once (and outer legs remembered for their inner leg). */
const MAX_HELD_HOP_LEGS = 10_000;

/** What Ingest read of one batch, and the by-source message of each egress event. */
export interface RekeyedBatch extends IngestStats {
  /** This batch's messages and those of earlier batches' held legs now released (`gates`). */
  messages: Message[];
  /**
   * Earlier batches' gates whose held legs are among `messages`: call `sent()` on each once the
   * broker acknowledged them (hop-pairing.ts).
   */
  gates: HoldGate[];
  /** Set when this batch left inner legs held: ack the batch only once it is released. */
  held: HoldGate | null;
}

export class Rekeyer {
  readonly ingest: Ingest;
  /** Gateway-route leg counts per window start, since the last `takeGatewayCounts()`. */
  private gatewayCounts = new Map<number, GatewayLegCounts>();
  private maxTime = Number.NEGATIVE_INFINITY;
  private minTime = Number.POSITIVE_INFINITY;
  /** Newest event time per input partition (`source/partition`) and when (wall) it last delivered. */
  private readonly streams = new Map<string, { max: number; seenAt: number }>();
  private firstLineAt: number | null = null;
  /** The input partition of the last `rekey` batch and the newest event time read from it, if any. */
  progress: { stream: string; time: number } | null = null;
  private linesSinceTally = false;
  /** Gateway outer and inner legs through an internal listener, paired so both go to the caller's partition. */
  readonly hops: HopPairer;

  /** `latenessMs`: the allowed lateness (`detection.lateness`); an inner leg waits HOP_START_MS plus it. */
  constructor(
    decoder: DecoderOptions,
    mesh: NormalizerConfig,
    private readonly gatewayWindowMs = 60_000,
    private readonly partitionBy: PartitionBy = 'namespace',
    private readonly clock: () => number = Date.now,
    latenessMs = 5000,
  ) {
    this.ingest = new Ingest({ decoder, mesh });
    this.hops = new HopPairer({ holdMs: HOP_START_MS + latenessMs, maxHeld: MAX_HELD_HOP_LEGS });
  }

  rekey(lines: readonly string[], source: string, position: (i: number) => string): RekeyedBatch {
    this.progress = null;
    if (lines.length === 0)
      return {
        ...this.ingest.read({ lines, source, position }, () => {}),
        messages: [],
        gates: [],
        held: null,
      };
    // A batch is one input partition's; its positions are `partition/offset`.
    const first = position(0);
    const slash = first.indexOf('/');
    const stream = `${source}/${slash < 0 ? '' : first.slice(0, slash)}`;
    let st = this.streams.get(stream);
    const hops = this.hops;
    // The stream's events that waited behind a gateway's inner leg come first (hop-pairing.ts).
    hops.begin(stream, st?.max ?? Number.NEGATIVE_INFINITY);
    const stats = this.ingest.read({ lines, source, position }, (event) => {
      this.countGatewayLeg(event);
      const key = partitionKeyOf(event, this.partitionBy);
      if (event.reporter === 'egress-gateway') {
        if (isInnerHopLeg(event)) return hops.inner(event, key, encodeEvent(event));
        if (isOuterHopLeg(event)) return hops.outer(event, { key, value: encodeEvent(event) });
      }
      hops.pass({ key, value: encodeEvent(event) }, event.time);
    });
    const batchMax = stats.maxTime;
    if (batchMax !== Number.NEGATIVE_INFINITY) {
      const now = this.clock();
      if (st === undefined) {
        st = { max: batchMax, seenAt: now };
        this.streams.set(stream, st);
      } else {
        if (batchMax > st.max) st.max = batchMax;
        st.seenAt = now;
      }
      this.firstLineAt ??= now;
      this.linesSinceTally = true;
      if (batchMax > this.maxTime) this.maxTime = batchMax;
      if (stats.minTime < this.minTime) this.minTime = stats.minTime;
    }
    const end = hops.endBatch(st?.max ?? Number.NEGATIVE_INFINITY);
    // Events that wait are sent later: the mark must not tell stage 2 that this stream passed them.
    if (st !== undefined) this.progress = { stream, time: Math.min(st.max, end.markTime) };
    return { ...stats, messages: end.released.messages, gates: end.released.gates, held: end.gate };
  }

  /**
   * Events waiting behind inner legs of input partitions that delivered nothing for HOLD_IDLE_MS (or
   * of all, `all`: end of input) go on, the inner legs unpaired: the messages and the gates they release.
   */
  releaseHeld(all = false): Released {
    if (!this.hops.waiting) return { messages: [], gates: [] };
    const now = this.clock();
    return this.hops.release((stream) => {
      if (all) return true;
      const st = this.streams.get(stream);
      return st === undefined || now - st.seenAt >= HOLD_IDLE_MS;
    });
  }

  private countGatewayLeg(event: EgressEvent): void {
    // The legs the plain detector's judge counts (detect/silence-judge.ts).
    const sidecar = isSidecarLeg(event);
    const gateway = !sidecar && isGatewayLeg(event);
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
