/**
 * Stage 1 of a scaled pipeline: raw lines -> LineDecoder -> Normalizer -> one message per egress
 * event on the by-source topic, keyed by source identity key. Kafka's default partitioner
 * (murmur2 of the key, as in the Java client) then sends every event of one identity to one
 * partition, whatever node's shipper read it, which is what lets stage 2 keep that identity's
 * baselines in one place. Synchronous, like the processor it stands in front of.
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

  constructor(
    decoder: DecoderOptions,
    mesh: NormalizerConfig,
    private readonly gatewayWindowMs = 60_000,
  ) {
    this.decoder = new LineDecoder(decoder);
    this.normalizer = new Normalizer(mesh);
  }

  rekey(lines: readonly string[], source: string, position: (i: number) => string): RekeyedBatch {
    this.out = emptyBatch();
    this.origin.source = source;
    for (let i = 0; i < lines.length; i++) {
      this.out.lines++;
      this.origin.position = position(i);
      this.decoder.decode(lines[i] as string, this);
    }
    return this.out;
  }

  access(record: AccessRecord, meta: ShipperMeta): void {
    const event = this.normalizer.normalize(record, meta, this.origin);
    if (Number.isNaN(event.time)) {
      this.malformed('no start time and no shipper timestamp', '');
      return;
    }
    if (event.path === 'inbound' || event.path === 'internal') {
      this.out.notEgress++;
      return;
    }
    this.countGatewayLeg(event);
    this.out.events++;
    this.out.messages.push({ key: event.source.key, value: encodeEvent(event) });
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
}

function emptyBatch(): RekeyedBatch {
  return { messages: [], lines: 0, events: 0, notEgress: 0, skipped: new Map(), deadLetters: [] };
}
