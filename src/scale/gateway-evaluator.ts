/**
 * The mesh-wide half of gateway-silence in a scaled deployment. No by-source partition sees every
 * leg, so stage 1 counts, per event-time window, the legs sidecars sent to the egress gateway and
 * the legs the gateway logged, and publishes them to the single-partition gateway-heartbeat topic
 * (gateway-heartbeat.ts). The one instance the group assigns that partition feeds every record here:
 * the windows are summed across publishers and judged by the plain mode's judge
 * (detect/silence-judge.ts) on its `counted` basis. Counts, not matched pairs: pairing needs both
 * legs in one place, which is what the per-partition detector still does for its per-client reasons.
 *
 * Event time across publishers: each heartbeat carries the newest event time its stage 1 read. The
 * watermark is the lowest of those among publishers that are receiving lines (minus the allowed
 * lateness), so a stage-1 instance that lags (catching up a backlog, or a slow partition) holds the
 * windows open instead of having its counts arrive after the judgement. An idle publisher (no lines
 * since its last heartbeat) holds nothing open, and one not heard from for `publisherTimeoutMs`
 * (record timestamps, so a rebuild replays the same decisions) is forgotten. Counts for a window
 * already judged are dropped and counted (`lateCounts`).
 *
 * Deterministic: findings carry the judged window's end as their time, so the alert stage gives a
 * rebuilt evaluator (takeover) the same alert id.
 */
import { z } from 'zod';
import { SilenceJudge, silenceFinding } from '../detect/silence-judge.js';
import type { Emit } from '../detect/types.js';

export interface GatewayEvaluatorOptions {
  windowMs: number;
  matchToleranceMs: number;
  latenessMs: number;
  minSidecarLegs: number;
  minMatchedRatio: number;
  /** A publisher not heard from for this long (record time) stops holding windows open. */
  publisherTimeoutMs: number;
}

/** One stage-1 instance's report (the value of a gateway-heartbeat record). */
export const HeartbeatSchema = z
  .object({
    v: z.literal(1),
    publisher: z.string().min(1),
    windowMs: z.number().int().positive(),
    maxTime: z.number().nullable(),
    idle: z.boolean(),
    /** [window start, sidecar-to-gateway legs, gateway legs] */
    counts: z.array(z.tuple([z.number(), z.number().int().min(0), z.number().int().min(0)])),
  })
  .strict();
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

interface Publisher {
  maxTime: number | null;
  idle: boolean;
  lastSeen: number;
}

export class GatewaySilenceEvaluator {
  private readonly publishers = new Map<string, Publisher>();
  private readonly silence: SilenceJudge;
  private newestRecord = Number.NEGATIVE_INFINITY;
  /** Event time up to which windows were judged (the mesh-wide watermark). */
  watermark = Number.NEGATIVE_INFINITY;
  lateCounts = 0;
  records = 0;

  constructor(private readonly o: GatewayEvaluatorOptions) {
    this.silence = new SilenceJudge({ ...o, basis: 'counted' }, () => ({
      sidecar: 0,
      gateway: 0,
      matched: 0,
    }));
  }

  /** One heartbeat record (`timestamp`: the record's time); judges the windows it closes. */
  accept(h: Heartbeat, timestamp: number, emit: Emit): void {
    this.records++;
    if (timestamp > this.newestRecord) this.newestRecord = timestamp;
    // As reported, even when lower than before: an instance given a lagging input partition must
    // hold the windows open again (the mesh-wide watermark itself never goes back).
    const maxTime = h.maxTime ?? this.publishers.get(h.publisher)?.maxTime ?? null;
    this.publishers.set(h.publisher, { maxTime, idle: h.idle, lastSeen: timestamp });
    for (const [start, sidecar, gateway] of h.counts) {
      if (sidecar === 0 && gateway === 0) continue;
      if (this.silence.isClosed(start, this.watermark)) {
        this.lateCounts += sidecar + gateway;
        continue;
      }
      const w = this.silence.window(start);
      w.sidecar += sidecar;
      w.gateway += gateway;
    }
    this.advance(emit);
  }

  /** Publishers currently known (not timed out). */
  get publisherCount(): number {
    return this.publishers.size;
  }

  private advance(emit: Emit): void {
    let low = Number.POSITIVE_INFINITY;
    let high = Number.NEGATIVE_INFINITY;
    let busy = false;
    for (const [id, p] of this.publishers) {
      if (this.newestRecord - p.lastSeen > this.o.publisherTimeoutMs) {
        this.publishers.delete(id);
        continue;
      }
      if (p.maxTime === null) continue;
      if (p.maxTime > high) high = p.maxTime;
      if (!p.idle) {
        busy = true;
        if (p.maxTime < low) low = p.maxTime;
      }
    }
    // Everyone idle: everything read so far is in, judge up to the newest.
    const upTo = (busy ? low : high) - this.o.latenessMs;
    if (!(upTo > this.watermark)) return;
    this.watermark = upTo;
    // The finding's time is the judged window's end (silence-judge.ts): a rebuilt evaluator raises
    // the same alert id.
    this.silence.advance(this.watermark, (verdict) =>
      emit(silenceFinding(verdict, { publishers: this.publishers.size })),
    );
  }
}
