/**
 * gateway-silence: egress that is no longer monitored. Each sidecar leg sent to the egress gateway is
 * joined with the gateway's leg of the same connection before detectors see it (detect/join.ts: by
 * address, request id, else caller + destination). Per window, when sidecars sent at least
 * `minSidecarLegs` and the gateway's logs account for fewer than `minMatchedRatio` of them, the
 * gateway went silent (or is lying): firing, then `resolved` when a window is healthy again. That
 * judgement is silence-judge.ts, shared with the scaled run's mesh-wide evaluator.
 *
 * Its own rule id, `unaccounted-gateway-leg` (so paging routes can select it), for gateway legs no
 * sidecar sent: `unaccounted-gateway-legs` when the sidecar that would have sent them is in the input
 * (its pod's lines are being read: something else on its address, or a forged identity);
 * `unknown-client` when no sidecar in the input uses the address (a client outside the mesh;
 * `unknownClients: ignore` when only some pods' lines are read); `no-principal` when the gateway
 * logs principals and this leg carries none. A steady condition is one standing alert per client
 * whose count grows (each further leg is a repeat).
 */
import { z } from 'zod';
import { duration } from '../../config/duration.js';
import type { EgressEvent } from '../../identity/types.js';
import { isGatewayLeg, isInternalAddress, isSidecarLeg } from '../join.js';
import { type LegCounts, SILENCE_RULE, SilenceJudge, silenceFinding } from '../silence-judge.js';
import { type DetectorSpec, destName, eventFinding, type RuleSpec } from '../spec.js';
import type { Detector, Emit } from '../types.js';

export const GatewaySilenceConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Run this detector.'),
    window: duration('1m', 'Window over which sidecar legs and gateway legs are compared.'),
    matchTolerance: duration(
      '10s',
      'Largest start-time difference between the two legs of one connection, and the longest the connection join waits for the second leg (it adds at most this to the time to detect).',
    ),
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
      .describe(
        'Unaccounted gateway legs from one client in a window that raise an unaccounted-gateway-leg finding.',
      ),
    judgeSilence: z
      .boolean()
      .default(true)
      .describe(
        'Judge "the gateway went silent" (legs per window). Scaled mode turns it off on each partition and judges it mesh-wide from every instance\'s leg counts; the per-client reasons stay.',
      ),
    unknownClients: z
      .enum(['alert', 'ignore'])
      .default('alert')
      .describe(
        "Gateway legs no sidecar sent, from an address no sidecar in the input has used: alert (every sidecar's lines are collected, so the client is outside the mesh; one leg is enough) or ignore (only some pods' lines are read, e.g. pasted kubectl logs).",
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

/** Gateway legs no sidecar sent and gateway legs without a peer principal (configured with gateway-silence). */
export const UNACCOUNTED_RULE = {
  id: 'unaccounted-gateway-leg',
  name: 'Gateway connection no sidecar sent',
  severity: 'critical',
  realert: '24h',
  firesWhen:
    "(emitted by gateway-silence, configured there) gateway legs no sidecar sent: `unaccounted-gateway-legs` when the sidecar at the caller's address is in the input (its pod's lines are being read) and logged no leg for it, >= `unaccountedMin` in a window; `unknown-client` when no sidecar in the input uses the address (`unknownClients: ignore` when only some pods' lines are read); `no-principal` when the gateway logs peer principals and this leg has none. One standing alert per client, repeats counted",
} as const satisfies RuleSpec;

/** A window's legs (judged by silence-judge.ts) and its unaccounted gateway legs per client. */
interface Bucket extends LegCounts {
  unaccounted: Map<string, number>;
  /**
   * Unaccounted gateway legs by their downstream remote address (-> client), kept while the client
   * is below `unaccountedMin`: a late sidecar leg with that upstream local address accounts for one.
   */
  unaccountedAt: Map<string, string>;
}

export class GatewaySilenceDetector implements Detector {
  readonly ruleId = SILENCE_RULE.id;
  private readonly silence: SilenceJudge<Bucket>;
  private principalSeen = false;
  private sidecarSeen = false;

  constructor(private readonly config: GatewaySilenceConfig) {
    this.silence = new SilenceJudge(
      {
        windowMs: config.window,
        matchToleranceMs: config.matchTolerance,
        minSidecarLegs: config.minSidecarLegs,
        minMatchedRatio: config.minMatchedRatio,
        basis: 'joined',
      },
      () => ({ sidecar: 0, matched: 0, gateway: 0, unaccounted: new Map(), unaccountedAt: new Map() }),
    );
  }

  observe(event: EgressEvent, emit: Emit): void {
    if (isSidecarLeg(event)) this.sidecarLeg(event);
    else if (isGatewayLeg(event)) this.gatewayLeg(event, emit);
  }

  private bucket(time: number): Bucket {
    return this.silence.window(time);
  }

  private sidecarLeg(event: EgressEvent): void {
    this.sidecarSeen = true;
    const bucket = this.bucket(event.time);
    bucket.sidecar++;
    if (event.join != null && event.join.by !== 'none') bucket.matched++;
  }

  private gatewayLeg(event: EgressEvent, emit: Emit): void {
    const bucket = this.bucket(event.time);
    bucket.gateway++;
    if (event.join?.late === true) {
      // Its sidecar's leg came late and was joined to it (join.ts `pushLate`): the sidecar sent this
      // one, and this leg stands for the connection.
      this.sidecarSeen = true;
      bucket.sidecar++;
      bucket.matched++;
    }
    const src = event.source;
    // A waypoint logs no peer principal by default (istio/istio#59046): its legs are judged by the
    // join with their ztunnel legs only.
    const waypoint = event.ambient === 'waypoint';
    // The inner leg of the gateway's own chain (SNI forwarding through an internal listener) has no
    // client of its own: its caller is its outer leg's, when the join found that leg.
    const noClient =
      isInternalAddress(event.downstreamRemoteAddress) && event.join?.outerOrigin === undefined;
    if (src.principal !== null && src.principalSource !== 'learned') {
      if (!waypoint) this.principalSeen = true;
    } else if (
      !waypoint &&
      event.join?.by === 'none' &&
      !noClient &&
      (this.config.requirePrincipal === 'always' ||
        (this.config.requirePrincipal === 'auto' && this.principalSeen))
    ) {
      const who = src.ip ?? 'an unknown address';
      emit(
        eventFinding(
          event,
          UNACCOUNTED_RULE.id,
          UNACCOUNTED_RULE.severity,
          `${UNACCOUNTED_RULE.id}/client/${who}`,
          `The egress gateway forwarded a connection from ${who} to ${destName(event)} that carries no peer principal and that no sidecar sent: a client outside the mesh or one bypassing its sidecar.`,
          { kind: 'no-principal' },
        ),
      );
      return;
    }
    const join = event.join;
    if (join == null || join.by !== 'none' || !this.sidecarSeen) return;
    if (noClient) return;
    if (!join.senderInInput) {
      if (this.config.unknownClients === 'alert') this.unknownClient(event, emit);
      return;
    }
    // The sidecar at this address is being read, and logged no leg for this connection.
    const who = src.principal ?? src.ip ?? src.key;
    const count = (bucket.unaccounted.get(who) ?? 0) + 1;
    bucket.unaccounted.set(who, count);
    if (count < this.config.unaccountedMin) {
      const at = event.downstreamRemoteAddress;
      if (at != null) bucket.unaccountedAt.set(at, who);
      return;
    }
    const finding = eventFinding(
      event,
      UNACCOUNTED_RULE.id,
      UNACCOUNTED_RULE.severity,
      `${UNACCOUNTED_RULE.id}/client/${src.ip ?? who}`,
      `The egress gateway logged ${count} connections from ${who} (e.g. to ${destName(event)}) in one ${Math.round(this.config.window / 1000)} s window that the sidecar at ${src.ip ?? 'that address'}, whose lines are being read, did not report sending: a client outside the mesh or one impersonating a workload.`,
      {
        kind: 'unaccounted-gateway-legs',
        count,
        windowStart: new Date(Math.floor(event.time / this.config.window) * this.config.window).toISOString(),
        downstreamRemoteAddress: event.downstreamRemoteAddress ?? null,
      },
    );
    finding.path = 'gateway-to-external';
    emit(finding);
  }

  /**
   * A sidecar leg that came later than its gateway leg's wait in the join (disorder beyond the
   * lateness plus the join tolerance: dead-lettered, its gateway leg already released unjoined). If
   * that gateway leg's window is not judged yet and its client has not reached `unaccountedMin`, it
   * is accounted for after all: the sidecar did report sending it. An alert already raised stays (it
   * fires at once, not at the window's end); a gateway leg no sidecar line ever names still counts.
   */
  observeLate(event: EgressEvent): void {
    if (!isSidecarLeg(event)) return;
    const at = event.upstreamLocalAddress;
    if (at == null) return;
    // The gateway's leg starts a few ms after the sidecar's: it may sit in the next window.
    const next = event.time + this.config.matchTolerance;
    const buckets = [this.silence.openWindow(event.time), this.silence.openWindow(next)];
    for (const bucket of buckets) {
      const who = bucket?.unaccountedAt.get(at);
      if (bucket === undefined || who === undefined) continue;
      bucket.unaccountedAt.delete(at);
      bucket.unaccounted.set(who, (bucket.unaccounted.get(who) ?? 1) - 1);
      bucket.sidecar++;
      bucket.matched++;
      return;
    }
  }

  /** A gateway leg from an address no sidecar in the input uses: one is enough. */
  private unknownClient(event: EgressEvent, emit: Emit): void {
    const src = event.source;
    const who = src.ip ?? src.principal ?? src.key;
    emit(
      eventFinding(
        event,
        UNACCOUNTED_RULE.id,
        UNACCOUNTED_RULE.severity,
        `${UNACCOUNTED_RULE.id}/client/${who}`,
        `The egress gateway forwarded a connection from ${who} to ${destName(event)} that no sidecar sent, from an address no sidecar in the input uses: a client outside the mesh${src.principal === null ? '' : ` presenting ${src.principal}`}.`,
        { kind: 'unknown-client', downstreamRemoteAddress: event.downstreamRemoteAddress ?? null },
      ),
    );
  }

  advance(watermark: number, emit: Emit): void {
    // With judgeSilence off (scaled mode) the windows still close: they hold the per-client counts.
    this.silence.advance(watermark, (verdict) => {
      if (this.config.judgeSilence) emit(silenceFinding(verdict));
    });
  }

  stateSize(): number {
    return this.silence.size;
  }
}

export const gatewaySilenceSpec: DetectorSpec<
  GatewaySilenceConfig,
  typeof SILENCE_RULE.id | typeof UNACCOUNTED_RULE.id
> = {
  rules: [SILENCE_RULE, UNACCOUNTED_RULE],
  summary:
    'The egress gateway logs stop or account for far fewer legs than sidecars send it; gateway legs no sidecar sent (rule unaccounted-gateway-leg).',
  config: GatewaySilenceConfigSchema,
  create: (config) => new GatewaySilenceDetector(config),
};
