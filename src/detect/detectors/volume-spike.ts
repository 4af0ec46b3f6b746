/**
 * volume-spike: requests, connections or bytes up (exfiltration) in one minute far above the key's
 * usual per-minute peak at this hour of day (a nightly batch is normal at night), per (identity,
 * host) and per (identity, registrable domain) so an upload spread over subdomains still shows. The
 * reason says whether the host is allowed: "allowed host, 40x normal upload".
 *
 * Threshold per metric: max(median x factor, median + madK x 1.4826 x MAD, minimum), computed once
 * per key-minute from the baseline; checked on every event so it fires within the minute.
 */
import { z } from 'zod';
import type { EgressEvent } from '../../identity/types.js';
import type { PolicySet } from '../../policy/policy-set.js';
import { duration } from '../duration.js';
import { type DetectorSpec, destName, eventFinding, formatBytes } from '../spec.js';
import { type Baseline, METRIC_NAMES, METRICS } from '../state/baseline.js';
import type { DetectionState } from '../state/store.js';
import type { Detector, Emit } from '../types.js';

export const VolumeSpikeConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    factor: z.number().positive().default(10).describe('Times the usual per-minute peak.'),
    madK: z.number().positive().default(6).describe('Robust z-score (MAD units) also required.'),
    minSamples: z
      .number()
      .int()
      .positive()
      .default(1)
      .describe('History samples needed before a key can alert.'),
    keyLearningPeriod: duration('24h', 'A key must be this old before it can alert.'),
    metrics: z
      .array(z.enum(METRIC_NAMES))
      .default(['requests', 'connections', 'bytes up'])
      .describe('Which per-minute counters to watch.'),
    minimum: z
      .object({
        requests: z.number().nonnegative().default(300),
        connections: z.number().nonnegative().default(300),
        bytesUp: z.number().nonnegative().default(5_000_000),
        bytesDown: z.number().nonnegative().default(100_000_000),
      })
      .strict()
      .prefault({})
      .describe('Per-minute floor below which nothing is a spike.'),
  })
  .strict();
export type VolumeSpikeConfig = z.infer<typeof VolumeSpikeConfigSchema>;

const WORDS = ['requests', 'connections', 'upload', 'download'];

export class VolumeSpikeDetector implements Detector {
  readonly ruleId = 'volume-spike' as const;
  private readonly watched: boolean[];
  private readonly minimum: number[];
  private readonly scratch = new Array<number>(METRICS).fill(0);

  constructor(
    private readonly config: VolumeSpikeConfig,
    private readonly state: DetectionState,
    private readonly policies: PolicySet,
    private readonly learningMs: number,
  ) {
    this.watched = METRIC_NAMES.map((m) => config.metrics.includes(m));
    const min = config.minimum;
    this.minimum = [min.requests, min.connections, min.bytesUp, min.bytesDown];
  }

  observe(event: EgressEvent, emit: Emit): void {
    const host = this.state.currentHost;
    if (host === null) return;
    const domain = this.state.currentDomain;
    if (this.check(host, event, emit, false)) {
      // The domain's minute holds the same bytes: a later event to a sibling host (api.x.com spiking,
      // then iam.x.com) must not report the same upload again as a domain-wide spike.
      domain?.markFired();
      return;
    }
    if (
      domain !== null &&
      event.destination.registeredDomain !== null &&
      event.destination.registeredDomain !== destName(event)
    ) {
      if (!host.firedThisMinute()) this.check(domain, event, emit, true);
    }
  }

  private check(b: Baseline, event: EgressEvent, emit: Emit, isDomain: boolean): boolean {
    if (b.firedThisMinute()) return false;
    if (
      event.time < this.state.startTime + this.learningMs ||
      event.time - b.firstSeen < this.config.keyLearningPeriod
    )
      return false;
    if (b.thresholdMinute() !== b.minute) this.computeThresholds(b, event.time);
    for (let m = 0; m < METRICS; m++) {
      if (!this.watched[m]) continue;
      const observed = b.current(m);
      if (observed <= b.threshold(m)) continue;
      b.markFired();
      const hod = this.hourOfDay(event.time);
      const stats = b.stats(m, hod, this.config.minSamples);
      const usual = stats === null ? 0 : stats.median;
      const ratio = observed / Math.max(usual, 1);
      const verdict = this.policies.empty ? null : this.policies.decideEvent(event).verdict;
      const hostNote =
        verdict === 'allow'
          ? 'allowed host'
          : verdict === 'deny'
            ? 'forbidden host'
            : 'host not covered by a policy';
      const target = isDomain ? `*.${event.destination.registeredDomain}` : destName(event);
      const fmt = m >= 2 ? formatBytes : (v: number) => String(Math.round(v));
      const finding = eventFinding(
        event,
        this.ruleId,
        'high',
        `${event.source.key} -> ${target}`,
        `${hostNote}, ${ratio >= 10 ? Math.round(ratio) : ratio.toFixed(1)}x normal ${WORDS[m]}: ${event.source.key} sent ${fmt(observed)} ${m >= 2 ? '' : `${WORDS[m]} `}to ${target} in one minute, usually at most ${fmt(usual)} at this hour.`.replace(
          '  ',
          ' ',
        ),
        {
          metric: METRIC_NAMES[m],
          observed,
          baselineMedian: usual,
          baselineMad: stats?.mad ?? null,
          baselineBasis: stats?.basis ?? null,
          baselineSamples: stats?.samples ?? 0,
          threshold: b.threshold(m),
          ratio,
          policyVerdict: verdict,
          scope: isDomain ? 'registrable-domain' : 'host',
        },
      );
      // A domain-wide spike is about the domain, not the host whose event crossed the line.
      if (isDomain && finding.destination !== null) {
        finding.destination.host = null;
        finding.destination.ip = null;
      }
      emit(finding);
      return true;
    }
    return false;
  }

  private hourOfDay(time: number): number {
    return Math.floor(((time + this.state.options.tzOffsetMs) % 86_400_000) / 3_600_000);
  }

  private computeThresholds(b: Baseline, time: number): void {
    const hod = this.hourOfDay(time);
    for (let m = 0; m < METRICS; m++) {
      if (!this.watched[m]) {
        this.scratch[m] = Number.POSITIVE_INFINITY;
        continue;
      }
      const s = b.stats(m, hod, this.config.minSamples);
      this.scratch[m] =
        s === null
          ? Number.POSITIVE_INFINITY
          : Math.max(
              s.median * this.config.factor,
              s.median + this.config.madK * 1.4826 * s.mad,
              this.minimum[m] as number,
            );
    }
    b.setThresholds(b.minute, this.scratch);
  }

  advance(): void {}

  stateSize(): number {
    return this.state.hosts.size;
  }
}

export const volumeSpikeSpec: DetectorSpec<VolumeSpikeConfig> = {
  ruleId: 'volume-spike',
  summary: 'Requests, connections or bytes up far above the key baseline for this hour of day.',
  config: VolumeSpikeConfigSchema,
  create: (config, ctx) => new VolumeSpikeDetector(config, ctx.state, ctx.policies, ctx.learningPeriodMs),
};
