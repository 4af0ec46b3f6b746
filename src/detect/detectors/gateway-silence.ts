/**
 * gateway-silence: egress that is no longer monitored. Each sidecar leg sent to the egress gateway is
 * joined with the gateway's leg for it: by request id for HTTP; by pod IP (or principal) + SNI + time
 * (+ closest bytes) for TLS passthrough. Per window, when sidecars sent at least `minSidecarLegs` and
 * the gateway's logs account for fewer than `minMatchedRatio` of them, the gateway went silent (or is
 * lying): firing, then `resolved` when a window is healthy again. Gateway legs that no sidecar leg
 * accounts for, or that carry no peer principal, come from a client outside the mesh or one
 * impersonating a workload: same rule, own reason.
 */
import { z } from 'zod';
import type { EgressEvent, SourceIdentity } from '../../identity/types.js';
import { duration } from '../duration.js';
import { type DetectorSpec, destName, eventFinding, isoMinute } from '../spec.js';
import type { Detector, Emit, Finding } from '../types.js';

export const GatewaySilenceConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    window: duration('1m', 'Window over which sidecar legs and gateway legs are compared.'),
    matchTolerance: duration('10s', 'Largest start-time difference between the two legs of one connection.'),
    minSidecarLegs: z
      .number()
      .int()
      .positive()
      .default(4)
      .describe(
        'Sidecar legs needed to judge a window; quieter windows are judged together with the next ones.',
      ),
    minMatchedRatio: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe('Share of sidecar legs the gateway must account for.'),
    unaccountedMin: z
      .number()
      .int()
      .positive()
      .default(3)
      .describe('Unaccounted gateway legs from one client in a window that raise a finding.'),
    judgeSilence: z
      .boolean()
      .default(true)
      .describe(
        'Judge "the gateway went silent" (legs per window). Scaled mode turns it off on each partition and judges it mesh-wide from every instance\'s leg counts; the per-client reasons stay.',
      ),
    requirePrincipal: z
      .enum(['auto', 'always', 'never'])
      .default('auto')
      .describe(
        'Alert on gateway legs without a peer principal: auto = once the gateway has logged principals.',
      ),
  })
  .strict();
export type GatewaySilenceConfig = z.infer<typeof GatewaySilenceConfigSchema>;

interface Leg {
  time: number;
  bytes: number;
  key: string;
  bucket: number;
  matched: boolean;
  gateway: boolean;
  /** Gateway legs only: who the gateway says called, and where to. */
  source: SourceIdentity | null;
  host: string;
}

interface Bucket {
  sidecar: number;
  matched: number;
  gateway: number;
  unaccounted: Map<string, { count: number; leg: Leg }>;
}

/** Quiet windows judged together at most. */
const MAX_CARRY_WINDOWS = 10;

const GATEWAY_SOURCE: SourceIdentity = {
  principal: null,
  namespace: null,
  workload: 'egress-gateway',
  pod: null,
  ip: null,
  attribution: 'unknown',
  key: 'egress-gateway',
};

/**
 * The "gateway went silent" finding and its resolve: one dedup key for the whole mesh, so the
 * per-partition detector and the scaled mode's mesh-wide evaluator raise the same alert id.
 */
export function gatewaySilenceFinding(
  time: number,
  status: 'firing' | 'resolved',
  reason: string,
  evidence: Record<string, unknown>,
): Finding {
  return {
    ruleId: 'gateway-silence',
    severity: 'critical',
    time,
    dedupKey: 'gateway-silence/egress-gateway',
    source: { ...GATEWAY_SOURCE },
    destination: null,
    path: 'sidecar-to-gateway',
    protocol: null,
    reason,
    evidence,
    status,
  };
}

export class GatewaySilenceDetector implements Detector {
  readonly ruleId = 'gateway-silence' as const;
  private readonly pendingSidecar = new Map<string, Leg[]>();
  private readonly pendingGateway = new Map<string, Leg[]>();
  private queue: Leg[] = [];
  private head = 0;
  private readonly buckets = new Map<number, Bucket>();
  private firing = false;
  private firingSince = 0;
  private principalSeen = false;
  private sidecarSeen = false;
  private carry: { sidecar: number; matched: number; gateway: number; from: number } | null = null;
  /** Client IPs that sent sidecar legs to the gateway (bounded): a gateway leg from any other is outside the mesh. */
  private readonly sidecarIps = new Set<string>();

  constructor(private readonly config: GatewaySilenceConfig) {}

  observe(event: EgressEvent, emit: Emit): void {
    if (event.path === 'sidecar-to-gateway') this.sidecarLeg(event);
    else if (event.path === 'gateway-to-external' && event.reporter === 'egress-gateway')
      this.gatewayLeg(event, emit);
  }

  private bucket(time: number): [number, Bucket] {
    const b = Math.floor(time / this.config.window);
    let bucket = this.buckets.get(b);
    if (bucket === undefined) {
      bucket = { sidecar: 0, matched: 0, gateway: 0, unaccounted: new Map() };
      this.buckets.set(b, bucket);
    }
    return [b, bucket];
  }

  private matchKey(event: EgressEvent): string {
    // Ambient: the ztunnel leg is L4 (no request id), so both legs join by caller IP + host.
    if (event.protocol === 'http' && event.requestId !== null && event.ambient == null)
      return `r:${event.requestId}`;
    const who = event.source.ip ?? event.source.principal ?? event.source.key;
    return `t:${who}|${destName(event)}`;
  }

  private sidecarLeg(event: EgressEvent): void {
    this.sidecarSeen = true;
    const ip = event.source.ip;
    if (ip !== null && !this.sidecarIps.has(ip)) {
      if (this.sidecarIps.size >= 65_536) this.sidecarIps.clear();
      this.sidecarIps.add(ip);
    }
    const [b, bucket] = this.bucket(event.time);
    bucket.sidecar++;
    const key = this.matchKey(event);
    const bytes = event.bytesUp + event.bytesDown;
    const other = this.take(this.pendingGateway, key, event.time, bytes);
    if (other !== null) {
      bucket.matched++;
      return;
    }
    this.enqueue(this.pendingSidecar, {
      time: event.time,
      bytes,
      key,
      bucket: b,
      matched: false,
      gateway: false,
      source: null,
      host: destName(event),
    });
  }

  private gatewayLeg(event: EgressEvent, emit: Emit): void {
    const [b, bucket] = this.bucket(event.time);
    bucket.gateway++;
    // A waypoint logs no peer principal by default (istio/istio#59046): its legs are judged by the
    // join with their ztunnel legs only.
    const waypoint = event.ambient === 'waypoint';
    if (event.source.principal !== null) {
      if (!waypoint) this.principalSeen = true;
    } else if (
      !waypoint &&
      (this.config.requirePrincipal === 'always' ||
        (this.config.requirePrincipal === 'auto' && this.principalSeen))
    ) {
      const who = event.source.ip ?? 'an unknown address';
      emit(
        eventFinding(
          event,
          this.ruleId,
          'critical',
          `gateway-silence/client/${who}`,
          `The egress gateway forwarded a connection from ${who} to ${destName(event)} that carries no peer principal: a client outside the mesh or one bypassing its sidecar.`,
          {
            kind: 'no-principal',
          },
        ),
      );
    }
    const key = this.matchKey(event);
    const bytes = event.bytesUp + event.bytesDown;
    const other = this.take(this.pendingSidecar, key, event.time, bytes);
    if (other !== null) {
      const sb = this.buckets.get(other.bucket);
      if (sb !== undefined) sb.matched++;
      return;
    }
    this.enqueue(this.pendingGateway, {
      time: event.time,
      bytes,
      key,
      bucket: b,
      matched: false,
      gateway: true,
      source: { ...event.source },
      host: destName(event),
    });
  }

  /** Removes and returns the pending leg for `key` closest in bytes among those within tolerance. */
  private take(pending: Map<string, Leg[]>, key: string, time: number, bytes: number): Leg | null {
    const legs = pending.get(key);
    if (legs === undefined) return null;
    let best = -1;
    for (let i = 0; i < legs.length; i++) {
      const leg = legs[i] as Leg;
      if (Math.abs(leg.time - time) > this.config.matchTolerance) continue;
      if (best < 0 || Math.abs(leg.bytes - bytes) < Math.abs((legs[best] as Leg).bytes - bytes)) best = i;
    }
    if (best < 0) return null;
    const leg = legs[best] as Leg;
    leg.matched = true;
    legs.splice(best, 1);
    if (legs.length === 0) pending.delete(key);
    return leg;
  }

  private enqueue(pending: Map<string, Leg[]>, leg: Leg): void {
    const legs = pending.get(leg.key);
    if (legs === undefined) pending.set(leg.key, [leg]);
    else legs.push(leg);
    this.queue.push(leg);
  }

  advance(watermark: number, emit: Emit): void {
    const expireBefore = watermark - this.config.matchTolerance;
    const q = this.queue;
    while (this.head < q.length && (q[this.head] as Leg).time < expireBefore) {
      const leg = q[this.head++] as Leg;
      if (leg.matched) continue;
      const pending = leg.gateway ? this.pendingGateway : this.pendingSidecar;
      const legs = pending.get(leg.key);
      if (legs !== undefined) {
        const i = legs.indexOf(leg);
        if (i >= 0) legs.splice(i, 1);
        if (legs.length === 0) pending.delete(leg.key);
      }
      if (leg.gateway && this.sidecarSeen) this.unaccounted(leg, emit);
    }
    if (this.head > 4096 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
    const closed = [...this.buckets.keys()]
      .filter((b) => (b + 1) * this.config.window + this.config.matchTolerance <= watermark)
      .sort((a, b) => a - b);
    for (const b of closed) {
      this.judge(b, this.buckets.get(b) as Bucket, watermark, emit);
      this.buckets.delete(b);
    }
  }

  private unaccounted(leg: Leg, emit: Emit): void {
    const bucket = this.buckets.get(leg.bucket);
    const src = leg.source as SourceIdentity;
    const who = src.principal ?? src.ip ?? src.key;
    if (bucket === undefined) return;
    const entry = bucket.unaccounted.get(who) ?? { count: 0, leg };
    entry.count++;
    bucket.unaccounted.set(who, entry);
    // A client that never sent through a sidecar is outside the mesh: one leg is enough.
    const outsider = src.ip !== null && !this.sidecarIps.has(src.ip);
    if (outsider ? entry.count !== 1 : entry.count !== this.config.unaccountedMin) return;
    const finding: Finding = {
      ruleId: this.ruleId,
      severity: 'critical',
      time: leg.time,
      dedupKey: `gateway-silence/client/${src.ip ?? who}`,
      reason: outsider
        ? `The egress gateway forwarded a connection from ${who} to ${leg.host} that no sidecar sent, from an address no sidecar uses: a client outside the mesh${src.principal === null ? '' : ` presenting ${src.principal}`}.`
        : `The egress gateway logged ${entry.count} connections from ${who} (e.g. to ${leg.host}) that no sidecar reported sending: a client outside the mesh or one impersonating a workload.`,
      source: { ...src },
      destination: { host: leg.host, registeredDomain: null, ip: null, port: 0, external: true },
      path: 'gateway-to-external',
      protocol: null,
      evidence: {
        kind: 'unaccounted-gateway-legs',
        count: entry.count,
        windowStart: new Date(leg.bucket * this.config.window).toISOString(),
      },
    };
    emit(finding);
  }

  private judge(b: number, closed: Bucket, watermark: number, emit: Emit): void {
    // Quiet windows (night) carry over until enough sidecar legs were seen to judge them together.
    const carry = this.carry;
    const bucket =
      carry === null
        ? closed
        : {
            ...closed,
            sidecar: closed.sidecar + carry.sidecar,
            matched: closed.matched + carry.matched,
            gateway: closed.gateway + carry.gateway,
          };
    const from = carry === null ? b : carry.from;
    if (bucket.sidecar < this.config.minSidecarLegs) {
      // A window without sidecar traffic ends the carry: there is nothing to judge.
      this.carry =
        bucket.sidecar === 0 || b - from >= MAX_CARRY_WINDOWS
          ? null
          : { sidecar: bucket.sidecar, matched: bucket.matched, gateway: bucket.gateway, from };
      return;
    }
    this.carry = null;
    if (!this.config.judgeSilence) return;
    const ratio = bucket.matched / bucket.sidecar;
    const start = from * this.config.window;
    const evidence = {
      sidecarLegs: bucket.sidecar,
      matchedLegs: bucket.matched,
      gatewayLegs: bucket.gateway,
      ratio,
      windowStart: new Date(start).toISOString(),
      windowMs: this.config.window,
    };
    if (ratio < this.config.minMatchedRatio) {
      if (!this.firing) this.firingSince = start;
      this.firing = true;
      emit(
        gatewaySilenceFinding(
          watermark,
          'firing',
          bucket.gateway === 0
            ? `The egress gateway logged nothing from ${isoMinute(start)} while sidecars sent it ${bucket.sidecar} connections: egress is no longer monitored.`
            : `The egress gateway's logs account for ${bucket.matched} of the ${bucket.sidecar} connections sidecars sent it from ${isoMinute(start)}.`,
          evidence,
        ),
      );
    } else if (this.firing) {
      this.firing = false;
      emit(
        gatewaySilenceFinding(
          watermark,
          'resolved',
          `The egress gateway's logs account for ${bucket.matched} of ${bucket.sidecar} sidecar connections again (silent since ${isoMinute(this.firingSince)}).`,
          evidence,
        ),
      );
    }
  }

  stateSize(): number {
    return this.pendingSidecar.size + this.pendingGateway.size;
  }
}

export const gatewaySilenceSpec: DetectorSpec<GatewaySilenceConfig> = {
  ruleId: 'gateway-silence',
  summary:
    'The egress gateway logs stop or account for far fewer legs than sidecars send it; gateway legs from outside the mesh.',
  config: GatewaySilenceConfigSchema,
  create: (config) => new GatewaySilenceDetector(config),
};
