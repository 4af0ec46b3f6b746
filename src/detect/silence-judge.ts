/**
 * "The egress gateway went silent": the one judgement of gateway-silence, for plain and scaled mode.
 * Callers only feed it leg counts per event-time window: the gateway-silence detector from the
 * legs it observes (detectors/gateway-silence.ts), the scaled run's mesh-wide evaluator from every
 * stage-1 instance's heartbeat counts (scale/gateway-evaluator.ts).
 *
 * A window closes when the watermark passes its end plus the match tolerance (the connection join
 * may still pair its legs until then). Quiet windows (fewer than `minSidecarLegs` sidecar legs) are
 * carried into the next ones, at most `MAX_CARRY_WINDOWS`, and a window without sidecar legs ends
 * the carry. When the gateway accounts for fewer than `minMatchedRatio` of the sidecar legs, the
 * silence fires; the first healthy window after it resolves it.
 *
 * What "accounted for" means depends on what the caller can see (`basis`): `joined` legs were
 * paired by the connection join (detect/join.ts), so the matched sidecar legs count; `counted` legs
 * (the mesh-wide evaluator: no partition holds both legs) are only numbers, so the gateway's legs
 * count, up to the sidecars'.
 */
import type { SourceIdentity } from '../identity/types.js';
import { isoMinute, type RuleSpec } from './spec.js';
import type { Finding } from './types.js';

/** The gateway went silent (or is lying): firing, then resolved. */
export const SILENCE_RULE = {
  id: 'gateway-silence',
  name: 'Egress gateway silence',
  severity: 'critical',
  realert: '24h',
  firesWhen:
    'sidecar legs to the gateway that the connection join (below) found no gateway leg for: firing when the gateway accounts for < `minMatchedRatio` of them in a window, `resolved` when it recovers; stamped at the end of the window that decided it (`evidence.windowStart`, `windowMs`), in plain and scaled mode alike',
} as const satisfies RuleSpec;

export interface SilenceJudgeOptions {
  windowMs: number;
  matchToleranceMs: number;
  minSidecarLegs: number;
  minMatchedRatio: number;
  /** `joined`: `matched` holds the sidecar legs paired with a gateway leg; `counted`: only counts. */
  basis: 'joined' | 'counted';
}

/** Legs of one window (or of carried windows summed). */
export interface LegCounts {
  /** Legs sidecars sent to the egress gateway. */
  sidecar: number;
  /** Legs the gateway logged. */
  gateway: number;
  /** Sidecar legs the connection join paired with a gateway leg (`joined` basis only). */
  matched: number;
}

export interface SilenceVerdict {
  status: 'firing' | 'resolved';
  basis: SilenceJudgeOptions['basis'];
  counts: LegCounts;
  /** Share of the sidecar legs the gateway accounts for. */
  ratio: number;
  /** Start of the first window judged (earlier than the closing one when quiet windows were carried). */
  start: number;
  /** End of the window that closed. */
  end: number;
  /** Start of the silence (for `resolved`). */
  firingSince: number;
}

/** Quiet windows judged together at most. */
export const MAX_CARRY_WINDOWS = 10;

/** Windows of leg counts (`W` may carry more per-window state of the caller) and the judgement over them. */
export class SilenceJudge<W extends LegCounts = LegCounts> {
  private readonly windows = new Map<number, W>();
  private carry: (LegCounts & { from: number }) | null = null;
  private firing = false;
  private firingSince = 0;

  constructor(
    private readonly o: SilenceJudgeOptions,
    private readonly newWindow: () => W,
  ) {}

  /** The window holding event time `time`, created when new. */
  window(time: number): W {
    const b = Math.floor(time / this.o.windowMs);
    let w = this.windows.get(b);
    if (w === undefined) {
      w = this.newWindow();
      this.windows.set(b, w);
    }
    return w;
  }

  /** The window holding event time `time` when it is open (not judged yet), else undefined. */
  openWindow(time: number): W | undefined {
    return this.windows.get(Math.floor(time / this.o.windowMs));
  }

  /** Whether `watermark` closes the window holding event time `time`. */
  isClosed(time: number, watermark: number): boolean {
    return this.closes(Math.floor(time / this.o.windowMs), watermark);
  }

  private closes(b: number, watermark: number): boolean {
    return (b + 1) * this.o.windowMs + this.o.matchToleranceMs <= watermark;
  }

  /** Windows open. */
  get size(): number {
    return this.windows.size;
  }

  /** Judges, oldest first, every window `watermark` closes, and forgets them. */
  advance(watermark: number, verdict: (v: SilenceVerdict) => void): void {
    const due = [...this.windows.keys()].filter((b) => this.closes(b, watermark)).sort((a, b) => a - b);
    for (const b of due) {
      this.judge(b, this.windows.get(b) as W, verdict);
      this.windows.delete(b);
    }
  }

  private judge(b: number, closed: LegCounts, verdict: (v: SilenceVerdict) => void): void {
    const carry = this.carry;
    const counts: LegCounts = {
      sidecar: closed.sidecar + (carry?.sidecar ?? 0),
      gateway: closed.gateway + (carry?.gateway ?? 0),
      matched: closed.matched + (carry?.matched ?? 0),
    };
    const from = carry?.from ?? b;
    if (counts.sidecar < this.o.minSidecarLegs) {
      this.carry = counts.sidecar === 0 || b - from >= MAX_CARRY_WINDOWS ? null : { ...counts, from };
      return;
    }
    this.carry = null;
    const accounted = this.o.basis === 'joined' ? counts.matched : Math.min(counts.gateway, counts.sidecar);
    const ratio = accounted / counts.sidecar;
    const start = from * this.o.windowMs;
    const status = ratio < this.o.minMatchedRatio ? 'firing' : this.firing ? 'resolved' : null;
    if (status === null) return;
    if (status === 'firing' && !this.firing) this.firingSince = start;
    this.firing = status === 'firing';
    verdict({
      status,
      basis: this.o.basis,
      counts,
      ratio,
      start,
      end: (b + 1) * this.o.windowMs,
      firingSince: this.firingSince,
    });
  }
}

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
 * The finding of a verdict. One dedup key for the whole mesh, so the plain detector and the scaled
 * mode's mesh-wide evaluator raise the same alert id; in both its time is the end of the window that
 * decided it (the event time up to which the legs were counted, not when the watermark happened to
 * pass it, which depends on how the input was batched), and `evidence.windowMs` the span judged,
 * from `windowStart` (carried quiet windows included). `extra` evidence is appended (the
 * evaluator's publisher count).
 */
export function silenceFinding(v: SilenceVerdict, extra: Record<string, unknown> = {}): Finding {
  const { sidecar, gateway, matched } = v.counts;
  const from = isoMinute(v.start);
  const joined = v.basis === 'joined';
  let reason: string;
  if (v.status === 'resolved')
    reason = joined
      ? `The egress gateway's logs account for ${matched} of ${sidecar} sidecar connections again (silent since ${isoMinute(v.firingSince)}).`
      : `The egress gateway logged ${gateway} connections for the ${sidecar} sidecars sent it from ${from} again (silent since ${isoMinute(v.firingSince)}).`;
  else if (gateway === 0)
    reason = `The egress gateway logged nothing from ${from} while sidecars${joined ? '' : ' across the mesh'} sent it ${sidecar} connections: egress is no longer monitored.`;
  else
    reason = joined
      ? `The egress gateway's logs account for ${matched} of the ${sidecar} connections sidecars sent it from ${from}.`
      : `The egress gateway logged ${gateway} connections from ${from} while sidecars across the mesh sent it ${sidecar}: far fewer than they sent.`;
  const windowStart = new Date(v.start).toISOString();
  const evidence = joined
    ? { sidecarLegs: sidecar, matchedLegs: matched, gatewayLegs: gateway, ratio: v.ratio, windowStart }
    : { kind: 'mesh-wide', sidecarLegs: sidecar, gatewayLegs: gateway, ratio: v.ratio, windowStart };
  return {
    ruleId: SILENCE_RULE.id,
    severity: SILENCE_RULE.severity,
    time: v.end,
    dedupKey: 'gateway-silence/egress-gateway',
    source: { ...GATEWAY_SOURCE },
    destination: null,
    path: 'sidecar-to-gateway',
    protocol: null,
    reason,
    evidence: { ...evidence, windowMs: v.end - v.start, ...extra },
    status: v.status,
  };
}
